"""``nvseg train --config CFG``: train a segmentation network or the joint localiser from a config.

The config (JSON or YAML; reference in docs/training.md) names the model, loss, optimiser,
schedule, data source, augmentation and output folder. Writes OUTPUT/model.pt (self-describing
checkpoint), OUTPUT/training_state.pt (for --resume), OUTPUT/train_log.csv and
OUTPUT/train_summary.json; prints a one-paragraph summary.
"""

import sys

from ..errors import InputError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train a network from a config file (YAML or JSON)",
        description="Train a segmentation network (condyle / temporal bone) or the coarse joint "
                    "localiser as described by a config file (see docs/training.md).")
    p.add_argument("--config", metavar="CFG", required=True, help="config file (.yaml, .yml, .json)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT/training_state.pt when it exists")
    p.add_argument("--iterations", metavar="N", type=int,
                   help="override schedule.iterations (total, counting resumed ones)")
    p.add_argument("--prepare-only", action="store_true",
                   help="only generate / cache the training and held-out phantoms, then stop")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def run(args):
    from ..training.config import load_config, read_config_file, validate_config

    if args.iterations is not None:
        if args.iterations < 1:
            raise InputError("--iterations must be >= 1, got %d" % args.iterations)
        raw = read_config_file(args.config)
        if isinstance(raw, dict):
            raw.setdefault("schedule", {})
            if isinstance(raw["schedule"], dict):
                raw["schedule"]["iterations"] = args.iterations
        cfg = validate_config(raw, name=args.config)
    else:
        cfg = load_config(args.config)
    if args.prepare_only:
        return prepare(cfg, progress=not args.quiet)
    from ..training.trainer import train

    summary = train(cfg, resume=args.resume, progress=not args.quiet)
    per_phantom = summary["phantom_generation_s"]
    print("trained %s: %d iterations (%d this run%s), loss %.4f -> %.4f, %.2f it/s on %s "
          "(data %.2f s + step %.2f s per iteration)%s; model %s"
          % (cfg["name"], summary["iterations"], summary["iterations_this_run"],
             ", resumed" if summary["resumed"] else "", summary["first_loss"] or 0.0,
             summary["last_loss"] or 0.0, summary["iterations_per_s"] or 0.0, summary["device"],
             summary["data_seconds_per_iteration"] or 0.0, summary["step_seconds_per_iteration"] or 0.0,
             "; %d new phantoms, %.1f s each" % (len(per_phantom), sum(per_phantom) / len(per_phantom))
             if per_phantom else "", summary["model"]))
    for note in summary["notes"]:
        print("note: " + note, file=sys.stderr)
    return 0


def prepare(cfg, progress=True):
    """Generate (or read back) every training and held-out case once, so later runs start at once."""
    import time

    from tqdm import tqdm

    from ..training.data import TrainingStream
    from ..training.evaluate import evaluation_cases

    start = time.perf_counter()
    stream = TrainingStream(cfg, progress=lambda it, **kw: tqdm(it, disable=not progress, **kw))
    for load in tqdm(evaluation_cases(cfg), desc="held-out", unit="case", disable=not progress):
        load()
    made = list(stream.cache.generation_s) if stream.cache else []
    print("prepared %s in %.0f s: %s%s" % (
        cfg["name"], time.perf_counter() - start, stream.describe(),
        "; %d training phantoms generated, %.1f s each" % (len(made), sum(made) / len(made)) if made else ""))
    return 0
