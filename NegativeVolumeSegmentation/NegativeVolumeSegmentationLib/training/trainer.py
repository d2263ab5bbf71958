"""The training loop shared by the segmentation networks and the joint localiser.

``train(cfg)`` builds the network, loss, optimiser and step schedule of a validated config,
streams augmented batches (:class:`.data.TrainingStream`), shows progress (tqdm: loss, lr, it/s,
ETA), logs ``train_log.csv`` and writes into ``output.dir``:

- ``model.pt``: a self-describing checkpoint (:mod:`..checkpoint`) with everything inference needs
  (architecture, label names, target spacing, intensity normalisation, crop geometry, data);
- ``training_state.pt``: weights + optimiser + scheduler + AMP scaler + iteration + random states,
  for ``resume``.

Seeds: torch, numpy and random are seeded from ``train.seed``; each batch is drawn from
``default_rng([seed, iteration, b])``, so a resumed run continues with the same samples.
Device: ``train.device`` auto = CUDA when available (mixed precision when ``train.amp``), else
CPU with ``torch.set_num_threads(train.threads)``. ``train.workers`` > 0 draws the batches in that
many forked processes (:mod:`.batch_workers`), ahead of the network: the same batches, in the same
order, as without them.
"""

import csv
import json
import os
import random
import time

import numpy as np
import torch

from ..inference.checkpoint import save_checkpoint
from ..io.atomic import atomic_path
from ..errors import InputError
from .losses import SegmentationLoss
from ..networks import build_network
from .config import label_names
from .batch_workers import batches
from .data import TrainingStream

STATE_NAME = "training_state.pt"
LOG_NAME = "train_log.csv"


def pick_device(name):
    """torch.device for "auto" / "cpu" / "cuda" (InputError when CUDA is asked for but absent)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device: cuda requested but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def make_optimizer(cfg, parameters):
    opt = cfg["optimizer"]
    if opt["name"] == "sgd":
        return torch.optim.SGD(parameters, lr=opt["lr"], momentum=opt["momentum"],
                               weight_decay=opt["weight_decay"], nesterov=opt["momentum"] > 0)
    cls = torch.optim.Adam if opt["name"] == "adam" else torch.optim.AdamW
    return cls(parameters, lr=opt["lr"], weight_decay=opt["weight_decay"])


def lr_factor(cfg, iteration):
    """Learning-rate multiplier at ``iteration``: linear warm-up, then x gamma every step_size."""
    sched = cfg["schedule"]
    factor = 1.0
    if sched["warmup"] and iteration < sched["warmup"]:
        factor = (iteration + 1) / float(sched["warmup"])
    if sched["step_size"]:
        factor *= sched["gamma"] ** (iteration // sched["step_size"])
    return factor


def model_metadata(cfg, stream_description, extra_metrics=None):
    """Checkpoint metadata (see :mod:`..checkpoint`) for a network trained with ``cfg``."""
    data = cfg["data"]
    crop = {"frame": "LPS axis-aligned; right joints mirrored across the sagittal plane "
                     "(direction diag(-1,1,1)) so array x runs laterally for both joints",
            "crop_size_mm": data["crop_size_mm"], "crop_offset_mm": data["crop_offset_mm"],
            "patch_size_xyz": data["patch_size"], "centre": "condyle centre (MC centroid)"}
    if cfg["task"] == "localizer":
        crop = {"frame": "LPS axis-aligned whole image (identity direction)",
                "ball_radius_mm": data["ball_radius_mm"], "patch_size_xyz": data["patch_size"]}
    return {"label_names": label_names(cfg), "target_spacing_mm": data["target_spacing_mm"],
            "intensity": dict(data["intensity"]), "training_data": stream_description,
            "metrics": extra_metrics or {}, "loss": {"name": cfg["loss"]["name"],
                                                     "options": cfg["loss"]["options"]},
            "extra": {"task": cfg["task"], "config_name": cfg["name"], "crop": crop,
                      "structures": data["structures"] if cfg["task"] == "segmentation" else [],
                      "config": cfg}}


class Trainer(object):
    """Holds the training objects of one config; ``run()`` trains to schedule.iterations."""

    def __init__(self, cfg, progress=True):
        self.cfg, self.progress = cfg, progress
        self.out_dir = os.path.abspath(cfg["output"]["dir"])
        try:
            os.makedirs(self.out_dir, exist_ok=True)
        except OSError as error:
            raise InputError("output.dir: cannot create %s: %s"
                             % (self.out_dir, error.strerror or error))
        seed_everything(cfg["train"]["seed"])
        self.device = pick_device(cfg["train"]["device"])
        if self.device.type == "cpu":
            torch.set_num_threads(cfg["train"]["threads"])
        self.amp = bool(cfg["train"]["amp"] and self.device.type == "cuda")
        self.network = build_network(cfg["model"]["name"], cfg["model"]["hyper"]).to(self.device)
        if cfg["train"]["init"]:
            self.initialise_from(cfg["train"]["init"])
        self.loss = SegmentationLoss(cfg["loss"]["name"], **cfg["loss"]["options"])
        self.optimizer = make_optimizer(cfg, self.network.parameters())
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda it: lr_factor(cfg, it))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.iteration = self.saved = 0   # the iteration reached, the last one saved
        self.stream = None
        self.timings = {}

    def initialise_from(self, path):
        """Start from the weights of the checkpoint at ``path`` (fine-tuning); its network and
        hyper-parameters must be this config's."""
        from ..inference.checkpoint import load_checkpoint

        network, _ = load_checkpoint(path, "cpu")
        if network.config() != self.network.config():
            raise InputError("train.init: %s holds %s, the config builds %s"
                             % (path, network.config(), self.network.config()))
        self.network.load_state_dict(network.state_dict())

    def load_state(self):
        """Resume from ``training_state.pt`` in the output folder; False when there is none."""
        path = os.path.join(self.out_dir, STATE_NAME)
        if not os.path.exists(path):
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        changed = _changes(state.get("config") or {"model": state.get("model")}, self.cfg)
        if changed:   # a changed optimiser crashed, a changed lr was ignored (the scheduler's)
            raise InputError("%s was written by another config (%s): resume with the same one "
                             "(only %s may change) or use a fresh output.dir"
                             % (path, "; ".join(changed), ", ".join(RESUMABLE)))
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.iteration = self.saved = int(state["iteration"])
        torch.set_rng_state(state["torch_rng"])
        return True

    def save(self, metrics=None):
        state = {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                 "iteration": self.iteration, "torch_rng": torch.get_rng_state(),
                 "model": self.cfg["model"], "config": self.cfg}
        path = os.path.join(self.out_dir, STATE_NAME)
        with atomic_path(path, ".pt") as temporary:
            torch.save(state, temporary)
        self.saved = self.iteration
        meta = model_metadata(self.cfg, self.stream.describe(), metrics)
        meta["extra"]["iterations"] = self.iteration
        return save_checkpoint(os.path.join(self.out_dir, self.cfg["output"]["model_name"]),
                               self.network, meta, half=self.cfg["train"]["half_weights"])

    def step(self, inputs, targets):
        x = torch.from_numpy(inputs).to(self.device)
        y = torch.from_numpy(targets).to(self.device)
        self.network.train()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            logits = self.network(x)
        loss = self.loss(logits.float(), y)
        if not torch.isfinite(loss):
            raise RuntimeError("loss became %s at iteration %d" % (float(loss), self.iteration))
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    def run(self, resume=False):
        """Train; returns a summary dict (losses, seconds, it/s, output paths)."""
        from tqdm import tqdm

        cfg = self.cfg
        start = time.perf_counter()
        self.stream = TrainingStream(cfg, progress=(lambda it, **kw: tqdm(it, disable=not self.progress, **kw)))
        self.timings["data_preparation_s"] = time.perf_counter() - start
        resumed = self.load_state() if resume else False
        state_path = os.path.join(self.out_dir, STATE_NAME)
        if not resume and os.path.exists(state_path):   # an earlier run's: a later --resume
            os.remove(state_path)                       # would have gone on from it
        total = cfg["schedule"]["iterations"]
        log_path = os.path.join(self.out_dir, LOG_NAME)
        mode = "a" if resumed and os.path.exists(log_path) else "w"
        if mode == "a":   # rows after the state's iteration (an interrupted run's) go
            _log_up_to(log_path, self.iteration)
        losses, t_data, t_step = [], 0.0, 0.0
        with open(log_path, mode, newline="") as log, \
                tqdm(total=total, initial=self.iteration, disable=not self.progress,
                     desc=cfg["name"], unit="it") as bar:
            writer = csv.writer(log)
            if mode == "w":
                writer.writerow(["iteration", "loss", "lr", "seconds"])
            first = self.iteration
            stream = batches(self.stream, first, total, cfg["train"]["workers"])
            try:
                while self.iteration < total:
                    t0 = time.perf_counter()
                    inputs, targets = next(stream)
                    t1 = time.perf_counter()
                    lr = self.optimizer.param_groups[0]["lr"]
                    loss = self.step(inputs, targets)
                    t2 = time.perf_counter()
                    t_data, t_step = t_data + t1 - t0, t_step + t2 - t1
                    losses.append(loss)
                    self.iteration += 1
                    writer.writerow([self.iteration, "%.6f" % loss, "%.3g" % lr, "%.3f" % (t2 - t0)])
                    bar.set_postfix(loss="%.4f" % np.mean(losses[-cfg["train"]["log_every"]:]), lr="%.2g" % lr)
                    bar.update(1)
                    if self.iteration % cfg["train"]["checkpoint_every"] == 0 and self.iteration < total:
                        self.save()
            except KeyboardInterrupt:   # say what a resume goes on from
                raise KeyboardInterrupt(
                    "at iteration %d of %d; --resume goes on from %s" % (
                        self.iteration, total, "iteration %d, the last saved" % self.saved
                        if self.saved else "the beginning (nothing saved yet)"))
            finally:
                stream.close()  # stops the workers, also when a step fails
        done = self.iteration - first
        seconds = t_data + t_step
        summary = {"iterations": self.iteration, "iterations_this_run": done, "resumed": resumed,
                   "first_loss": losses[0] if losses else None,
                   "last_loss": float(np.mean(losses[-10:])) if losses else None,
                   "seconds": seconds, "iterations_per_s": done / seconds if seconds else None,
                   "data_seconds_per_iteration": t_data / done if done else None,
                   "step_seconds_per_iteration": t_step / done if done else None,
                   "data_preparation_s": self.timings["data_preparation_s"],
                   "phantom_generation_s": list(self.stream.cache.generation_s) if self.stream.cache else [],
                   "device": str(self.device), "amp": self.amp, "notes": self.stream.notes}
        summary["model_sha256"] = self.save({"training": {"last_loss": summary["last_loss"],
                                                          "iterations": self.iteration}})
        summary["model"] = os.path.join(self.out_dir, cfg["output"]["model_name"])
        with open(os.path.join(self.out_dir, "train_summary.json"), "w") as stream:
            json.dump(summary, stream, indent=2)
        return summary


RESUMABLE = ("schedule.iterations", "train.device", "train.amp", "train.workers", "train.threads",
             "train.checkpoint_every", "train.log_every", "train.half_weights", "train.init",
             "data.phantom.cache_dir", "evaluate", "name")


def _changes(saved, cfg, prefix=""):
    """["key: saved -> now"] of the config entries that differ between a saved run's config and
    ``cfg``, except the RESUMABLE ones (and the output, the name)."""
    out = []
    for key in sorted(set(saved) | set(cfg)):
        name = prefix + key
        if name in RESUMABLE or name == "output":
            continue
        a, b = saved.get(key), cfg.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_changes(a, b, name + "."))
        elif a != b and key in saved:
            out.append("%s: %r -> %r" % (name, a, b))
    return out


def _log_up_to(path, iteration):
    """Keep the header and the rows of ``train_log.csv`` up to ``iteration`` (a resumed run
    goes on from its last saved state; an interrupted run had logged rows past it)."""
    with open(path, newline="") as stream:
        rows = list(csv.reader(stream))
    kept = rows[:1] + [row for row in rows[1:] if row and row[0].isdigit()
                       and int(row[0]) <= iteration]
    if len(kept) < len(rows):
        with atomic_path(path, ".csv") as temporary:
            with open(temporary, "w", newline="", encoding="utf-8") as stream:
                csv.writer(stream).writerows(kept)


def train(cfg, resume=False, progress=True):
    """Train the network described by a validated config; returns the run summary."""
    return Trainer(cfg, progress).run(resume=resume)
