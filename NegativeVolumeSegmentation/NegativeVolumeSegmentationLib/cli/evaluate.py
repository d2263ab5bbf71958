"""``nvseg evaluate --config CFG``: score a trained model on held-out cases.

Held-out cases are the phantoms of ``evaluate.seeds`` (never training seeds) or the labelled cases
of ``evaluate.folder``. Prints a table (mean ± std per structure and side) and writes
``evaluation.json`` beside the model. Metric definitions: docs/training.md.
"""

import math

from ..labels import SIDES


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="evaluate a trained network on held-out cases",
        description="Dice (%), cross-entropy, HD, HD95, ASSD (mm) per structure and side, and the "
                    "negative volume from predicted vs truth masks, on held-out phantoms or cases.")
    p.add_argument("--config", metavar="CFG", required=True, help="the config the model was trained with")
    p.add_argument("--checkpoint", metavar="MODEL", help="model file (default OUTPUT/model.pt)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _fmt(stat, digits=2):
    if not stat:
        return "-"
    if math.isinf(stat["mean"]):
        return "inf"
    return "%.*f ± %.*f" % (digits, stat["mean"], digits, stat["std"])


def format_summary(result):
    """Human-readable lines of an evaluate() result."""
    s = result["summary"]
    lines = ["model %s (%s), held out: %s" % (result["model"], result["task"], result["held_out"])]
    if result["task"] == "localizer":
        for side in SIDES:
            lines.append("  %-5s centre error mm %s" % (side, _fmt(s["error_mm"][side])))
        lines.append("  ball Dice %% %s, detection rate %s, seconds/case %s"
                     % (_fmt(s["ball_dice_percent"], 1), _fmt(s["detection_rate"]),
                        _fmt(s["seconds_per_case"])))
        return lines
    header = "  %-14s %-5s %-13s %-13s %-13s %-13s %-13s" % (
        "structure", "side", "Dice %", "CE", "HD mm", "HD95 mm", "ASSD mm")
    lines.append(header)
    for name in ("condyle", "temporal_bone"):
        for side in SIDES + ("both",):
            if name not in s:
                continue
            m = s[name][side]
            lines.append("  %-14s %-5s %-13s %-13s %-13s %-13s %-13s" % (
                name, side, _fmt(m["dice_percent"], 1), _fmt(m["cross_entropy"], 3),
                _fmt(m["hd_mm"]), _fmt(m["hd95_mm"]), _fmt(m["assd_mm"])))
    nv = s.get("negative_volume")
    if nv:
        lines.append("  negative volume: Dice %% %s, |relative error| %% %s, predicted mm3 %s, "
                     "from truth masks mm3 %s" % (
                         _fmt(nv["dice_percent"], 1), _fmt(nv["abs_relative_error_percent"], 1),
                         _fmt(nv["predicted_mm3"], 0), _fmt(nv["truth_masks_mm3"], 0)))
    lines.append("  seconds per joint %s" % _fmt(s.get("seconds_per_joint")))
    return lines


def run(args):
    from ..training.config import load_config
    from ..training.evaluate import evaluate

    cfg = load_config(args.config)
    result = evaluate(cfg, checkpoint=args.checkpoint, progress=not args.quiet)
    for line in format_summary(result):
        print(line)
    print("wrote " + result["path"])
    return 0
