"""Training / evaluation configuration: schema, defaults and validation (JSON or YAML files).

``load_config(path)`` reads a ``.json``, ``.yaml`` or ``.yml`` file, fills in defaults and checks
every key and value; a wrong key or value raises InputError with one line naming the file, the
dotted key and what is accepted. The result is a plain nested dict (see docs/training.md for the
reference of every key). Lengths are mm, sizes in voxels are given as x, y, z (LPS axis order).
Relative paths (``output.dir``, ``data.folder``, ``data.phantom.cache_dir``, ``evaluate.folder``)
are relative to the current working directory.
"""

import copy
import difflib
import re
import json
import os

from ..errors import InputError, one_line
from ..options import DEFAULTS, DEVICES, MODES
from .losses import LOSSES, SegmentationLoss
from ..networks import build_network, network_names

REQUIRED = object()
TASKS = ("segmentation", "localizer")
SOURCES = ("phantom", "folder")
STRUCTURES = ("condyle", "temporal_bone")
OPTIMIZERS = ("adam", "adamw", "sgd")


class Field(object):
    """One leaf of the schema: a default (or REQUIRED) and a checker(value, key) -> value."""

    def __init__(self, default, check):
        self.default, self.check = default, check


def _fail(key, message):
    raise InputError("%s: %s" % (key, message))


_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def number(lo=None, hi=None, integer=False, low_open=False):
    def check(value, key):
        if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
            value = float(value)   # YAML 1.1 (PyYAML) reads 1e-3 as text: written as in the docs
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(key, "expected a number, got %r" % (value,))
        if integer and int(value) != value:
            _fail(key, "expected an integer, got %r" % (value,))
        if lo is not None and (value < lo or (low_open and value == lo)):
            _fail(key, "must be %s %g, got %r" % (">" if low_open else ">=", lo, value))
        if hi is not None and value > hi:
            _fail(key, "must be <= %g, got %r" % (hi, value))
        return int(value) if integer else float(value)
    return check


def choice(options, allow_none=False):
    def check(value, key):
        if value is None and allow_none:
            return None
        if value not in options:
            _fail(key, "must be one of %s, got %r" % (", ".join(map(str, options)), value))
        return value
    return check


def triple(lo=None, hi=None, integer=False, low_open=True):
    item = number(lo, hi, integer, low_open)

    def check(value, key):
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            _fail(key, "expected three numbers (x, y, z), got %r" % (value,))
        return [item(v, key) for v in value]
    return check


def pair(lo=None, hi=None):
    item = number(lo, hi)

    def check(value, key):
        if not isinstance(value, (list, tuple)) or len(value) != 2 or item(value[0], key) > item(value[1], key):
            _fail(key, "expected [low, high] with low <= high, got %r" % (value,))
        return [float(value[0]), float(value[1])]
    return check


def boolean(value, key):
    if not isinstance(value, bool):
        _fail(key, "expected true or false, got %r" % (value,))
    return value


def mapping(value, key):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(key, "expected a mapping of names to values, got %r" % (value,))
    return dict(value)


def text(allow_none=False):
    def check(value, key):
        if value is None and allow_none:
            return None
        if not isinstance(value, str) or not value.strip():
            _fail(key, "expected a non-empty text, got %r" % (value,))
        return value
    return check


def optional(check):
    """``check`` that also accepts null (None)."""
    return lambda value, key: None if value is None else check(value, key)


def seeds(value, key):
    """A list of non-negative integers, or {first: a, count: n} for a, a+1, ..., a+n-1."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"first", "count"})
        if unknown or "first" not in value or "count" not in value:
            _fail(key, "expected {first: N, count: M} or a list of seeds, got %r" % (value,))
        first = number(0, integer=True)(value["first"], key + ".first")
        count = number(1, integer=True)(value["count"], key + ".count")
        return list(range(first, first + count))
    if not isinstance(value, (list, tuple)) or not value:
        _fail(key, "expected {first: N, count: M} or a non-empty list of seeds, got %r" % (value,))
    out = [number(0, integer=True)(v, key) for v in value]
    if len(set(out)) != len(out):
        _fail(key, "seeds are repeated: %r" % (value,))
    return out


def structures(value, key):
    if not isinstance(value, (list, tuple)) or not value or any(v not in STRUCTURES for v in value) \
            or len(set(value)) != len(value):
        _fail(key, "expected a list from %s, got %r" % (", ".join(STRUCTURES), value))
    return [s for s in STRUCTURES if s in value]  # fixed class order


PHANTOM = {
    "kind": Field("head", choice(("head", "analytic"))),
    "seeds": Field({"first": 0, "count": 24}, seeds),
    "options": Field({}, mapping),
    "cache_dir": Field("runs/phantom-cache", text()),
}

SCHEMA = {
    "name": Field(None, text(allow_none=True)),
    "task": Field("segmentation", choice(TASKS)),
    "model": {"name": Field(REQUIRED, choice(network_names())), "hyper": Field({}, mapping)},
    "loss": {"name": Field("dice_ce", choice(LOSSES)), "options": Field({}, mapping)},
    "optimizer": {"name": Field("adamw", choice(OPTIMIZERS)), "lr": Field(1e-3, number(0, 1, low_open=True)),
                  "weight_decay": Field(1e-4, number(0)), "momentum": Field(0.9, number(0, 1))},
    "schedule": {"iterations": Field(REQUIRED, number(1, integer=True)),
                 "step_size": Field(None, optional(number(1, integer=True))),
                 "gamma": Field(0.5, number(0, 1, low_open=True)),
                 "warmup": Field(0, number(0, integer=True))},
    "data": {
        "source": Field("phantom", choice(SOURCES)),
        "folder": Field(None, text(allow_none=True)),
        "phantom": PHANTOM,
        "real_shapes": {"path": Field(None, text(allow_none=True)),
                        "probability": Field(0.0, number(0, 1))},
        "structures": Field(list(STRUCTURES), structures),
        "target_spacing_mm": Field([0.5, 0.5, 0.5], triple(0.05, 10.0)),
        "crop_size_mm": Field([48.0, 48.0, 40.0], triple(1.0, 400.0)),
        "crop_offset_mm": Field([0.0, 0.0, 4.0], triple(-50.0, 50.0, low_open=False)),
        "patch_size": Field([64, 64, 48], triple(8, 512, integer=True)),
        "centre_jitter_mm": Field(4.0, number(0, 50)),
        "batch_size": Field(2, number(1, 256, integer=True)),
        "ball_radius_mm": Field(8.0, number(1, 40, low_open=True)),
        "intensity": {"clip_hu": Field([-1000.0, 2500.0], pair(-4000, 10000)),
                      "center_hu": Field(500.0, number(-4000, 10000)),
                      "scale_hu": Field(1000.0, number(0, 10000, low_open=True))},
    },
    "augment": {
        "flip": Field(0.0, number(0, 1)),
        "rotation_deg": Field(15.0, number(0, 180)),
        "scale": Field([0.9, 1.1], pair(0.5, 2.0)),
        "elastic": {"probability": Field(0.3, number(0, 1)),
                    "magnitude_mm": Field(1.5, number(0, 20)),
                    "grid_mm": Field(16.0, number(2, 200, low_open=True))},
        "intensity": {"contrast": Field([0.8, 1.2], pair(0.1, 10)),
                      "shift_hu": Field(60.0, number(0, 2000)),
                      "noise_hu": Field([0.0, 50.0], pair(0, 1000)),
                      "blur_mm": Field([0.0, 0.6], pair(0, 10)),
                      "tissue_hu": Field(0.0, number(0, 500)),
                      "bias": Field(0.0, number(0, 1))},
        "spacing": {"probability": Field(0.3, number(0, 1)),
                    "max_mm": Field([1.0, 1.0, 2.0], triple(0.05, 10.0))},
    },
    "train": {"seed": Field(0, number(0, integer=True)),
              "threads": Field(2, number(1, 256, integer=True)),
              "workers": Field(0, number(0, 256, integer=True)),
              "device": Field(DEFAULTS["device"], choice(DEVICES)),
              "amp": Field(True, boolean),
              "log_every": Field(10, number(1, integer=True)),
              "checkpoint_every": Field(200, number(1, integer=True)),
              "half_weights": Field(False, boolean),
              "init": Field(None, text(allow_none=True))},
    "evaluate": {"seeds": Field({"first": 100000, "count": 6}, seeds),
                 "phantom_options": Field(None, optional(mapping)),
                 "folder": Field(None, text(allow_none=True)),
                 "max_distance_mm": Field(DEFAULTS["max_distance_mm"], number(0, 100, low_open=True)),
                 "mode": Field(DEFAULTS["mode"], choice(MODES)),
                 "threshold": Field(0.5, number(0, 1, low_open=True))},
    "output": {"dir": Field(REQUIRED, text()), "model_name": Field("model.pt", text())},
}


def _validate(raw, schema, prefix):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail(prefix or "config", "expected a mapping of keys, got %r" % (raw,))
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(schema), n=1)
        hint = " (did you mean %r?)" % close[0] if close else ""
        _fail(prefix + str(key), "unknown key%s; allowed keys here: %s"
              % (hint, ", ".join(sorted(schema))))
    out = {}
    for key, spec in schema.items():
        dotted = prefix + key
        if isinstance(spec, dict):
            out[key] = _validate(raw.get(key), spec, dotted + ".")
        elif key in raw:
            out[key] = spec.check(raw[key], dotted)
        elif spec.default is REQUIRED:
            _fail(dotted, "is required")
        else:
            out[key] = copy.deepcopy(spec.default)
            if spec.default is not None and not isinstance(spec.default, (str, bool)):
                out[key] = spec.check(out[key], dotted)
    return out


def n_classes(config):
    """Output classes: background + one per structure (segmentation), or background + joint."""
    return 2 if config["task"] == "localizer" else 1 + len(config["data"]["structures"])


def label_names(config):
    if config["task"] == "localizer":
        return ["background", "temporomandibular joint"]
    names = {"condyle": "mandibular condyle", "temporal_bone": "temporal bone"}
    return ["background"] + [names[s] for s in config["data"]["structures"]]


def _cross_checks(cfg):
    hyper = dict(cfg["model"]["hyper"])
    for key, want in (("in_channels", 1), ("out_channels", n_classes(cfg))):
        if key in hyper and hyper[key] != want:
            _fail("model.hyper." + key, "must be %d for this task (or left out), got %r"
                  % (want, hyper[key]))
        hyper[key] = want
    try:
        build_network(cfg["model"]["name"], hyper)
    except InputError as error:
        _fail("model.hyper", str(error))
    except (TypeError, ValueError) as error:
        _fail("model.hyper", one_line(error))
    cfg["model"]["hyper"] = hyper
    try:
        SegmentationLoss(cfg["loss"]["name"], **cfg["loss"]["options"])
    except ValueError as error:
        _fail("loss.options", str(error))
    data = cfg["data"]
    if data["source"] == "folder":
        if not data["folder"]:
            _fail("data.folder", "is required when data.source is folder")
        if not os.path.isdir(data["folder"]):
            _fail("data.folder", "no such folder: %s" % data["folder"])
    shapes = data["real_shapes"]
    if shapes["probability"] > 0:
        if not shapes["path"] or not os.path.isfile(shapes["path"]):
            _fail("data.real_shapes.path", "no such file: %s (the real-anatomy label map, "
                  "../shared/data/real/dental_cbct_labels.nii.gz)" % shapes["path"])
    if shapes["probability"] > 0 or cfg["augment"]["intensity"]["bias"] > 0:
        import importlib.util

        if importlib.util.find_spec("torchio") is None:
            _fail("data.real_shapes" if shapes["probability"] > 0 else "augment.intensity.bias",
                  "needs TorchIO, the training extra: pip install -e \".[train]\"")
    if cfg["train"]["init"] and not os.path.isfile(cfg["train"]["init"]):
        _fail("train.init", "no such checkpoint: %s" % cfg["train"]["init"])
    if cfg["task"] == "localizer" and data["structures"] != list(STRUCTURES):
        _fail("data.structures", "applies to segmentation only; leave it out for the localizer")
    overlap = sorted(set(data["phantom"]["seeds"]) & set(cfg["evaluate"]["seeds"]))
    if data["source"] == "phantom" and overlap:
        _fail("evaluate.seeds", "seeds %s are also training seeds (data.phantom.seeds); held-out "
              "seeds must differ" % ", ".join(map(str, overlap[:5])))
    if cfg["evaluate"]["folder"] and not os.path.isdir(cfg["evaluate"]["folder"]):
        _fail("evaluate.folder", "no such folder: %s" % cfg["evaluate"]["folder"])
    if cfg["evaluate"]["folder"] and data["source"] == "folder":
        from .data import shared_cases

        shared = shared_cases(data["folder"], cfg["evaluate"]["folder"])
        if shared:
            _fail("evaluate.folder", "%d of its cases are training cases (data.folder): %s; "
                  "held-out cases must differ" % (len(shared), ", ".join(shared[:5])))
    if cfg["evaluate"]["phantom_options"] is None:
        cfg["evaluate"]["phantom_options"] = dict(data["phantom"]["options"])


def validate_config(raw, name="config"):
    """Validated config dict (defaults filled in) from a raw mapping; InputError on any problem."""
    try:
        cfg = _validate(raw, SCHEMA, "")
        _cross_checks(cfg)
    except InputError as error:
        raise InputError("%s: %s" % (name, error))
    if cfg["name"] is None:
        cfg["name"] = os.path.splitext(os.path.basename(name))[0] if name != "config" else "model"
    return cfg


def read_config_file(path):
    """The raw mapping stored in a JSON or YAML file (InputError for a missing or unparsable file)."""
    if not os.path.isfile(path):
        raise InputError("%s: no such config file" % path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".json", ".yaml", ".yml"):
        raise InputError("%s: config must be a .json, .yaml or .yml file" % path)
    try:
        with open(path) as stream:
            if ext == ".json":
                return json.load(stream)
            import yaml

            return yaml.safe_load(stream)
    except ValueError as error:  # json.JSONDecodeError
        raise InputError("%s: not valid JSON: %s" % (path, error))
    except Exception as error:  # yaml.YAMLError and friends
        raise InputError("%s: not valid YAML: %s" % (path, one_line(error)))


def load_config(path):
    """Read and validate a config file; returns the full config dict."""
    return validate_config(read_config_file(path), name=path)
