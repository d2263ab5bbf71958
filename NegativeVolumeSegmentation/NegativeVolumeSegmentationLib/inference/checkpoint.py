"""Model checkpoints that carry everything needed to use them, and a sha256 check.

A checkpoint is one file written by ``torch.save`` holding only plain data (tensors, strings,
numbers, lists, dicts), so it loads with ``torch.load(weights_only=True)``:

    {"format": "nvseg-checkpoint", "format_version": 1,
     "metadata": {
        "network": {"name": "vnet", "hyper": {...}},      # rebuilds the architecture
        "label_names": ["background", "mandibular condyle", "temporal bone"],  # one per output
        "target_spacing_mm": [sx, sy, sz],                 # resample the CT to this (x, y, z)
        "intensity": {...},                                # how the CT was normalised, e.g.
                                                           # {"clip_hu": [-1000, 3000], "scale": ...}
        "training_data": "...",                            # what it was trained on
        "metrics": {...},                                  # validation scores, free form
        "loss": {...}, "extra": {...},                     # optional
        "library_version": "x.y.z", "torch_version": "...", "created_utc": "...",
        "parameters": 123, "weights_dtype": "float32" | "float16"},
     "state_dict": {...}}

Weights may be stored as float16 (``half=True``: half the file size); they are loaded back as
float32. Loading problems raise ModelError with a one-line reason.
"""

import datetime
import hashlib
import json
import os

import torch

from .. import __version__
from ..errors import InputError, ModelError, one_line
from ..io.atomic import atomic_path
from ..networks import build_network, count_parameters

FORMAT = "nvseg-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("label_names", "target_spacing_mm", "intensity", "training_data")


def _check_metadata(network, metadata):
    missing = [key for key in REQUIRED if key not in metadata]
    if missing:
        raise ValueError("checkpoint metadata lacks %s" % ", ".join(missing))
    out_channels = network.config()["hyper"]["out_channels"]
    if len(metadata["label_names"]) != out_channels:
        raise ValueError("label_names has %d names but the network has %d outputs"
                         % (len(metadata["label_names"]), out_channels))
    spacing = [float(s) for s in metadata["target_spacing_mm"]]
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError("target_spacing_mm must be 3 positive numbers (x, y, z mm)")
    if not isinstance(metadata["intensity"], dict):
        raise ValueError("intensity must be a dict describing the CT normalisation")


def _plain(metadata):
    """The metadata as plain JSON data (numpy numbers and arrays become Python numbers and lists)."""
    def convert(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        raise ValueError("checkpoint metadata must be JSON-like; cannot store %r" % (value,))
    return json.loads(json.dumps(metadata, default=convert))


def save_checkpoint(path, network, metadata, half=False):
    """Write ``network`` and ``metadata`` (REQUIRED keys at least) to ``path`` atomically.

    The network's config, library and torch versions, time, parameter count and weight dtype
    are added to the metadata. Returns the file's sha256 (hex).
    """
    _check_metadata(network, metadata)
    meta = dict(metadata)
    meta.setdefault("metrics", {})
    meta["target_spacing_mm"] = [float(s) for s in metadata["target_spacing_mm"]]
    meta["label_names"] = [str(n) for n in metadata["label_names"]]
    meta.update(network=network.config(), library_version=__version__,
                torch_version=str(torch.__version__), parameters=count_parameters(network),
                created_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                weights_dtype="float16" if half else "float32")
    meta = _plain(meta)
    state = {}
    for key, value in network.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if half and value.is_floating_point() else value.clone()
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta,
               "state_dict": state}
    with atomic_path(path, ".pt") as temporary:
        with open(temporary, "wb") as stream:
            torch.save(payload, stream)
    return sha256_of(path)


def _read(path):
    if not os.path.isfile(path):
        raise ModelError("model file not found: %s" % path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise ModelError("cannot read model file %s: %s" % (path, one_line(error)[:200]))
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError("%s is not an nvseg checkpoint" % path)
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError("%s has checkpoint format %s; this nvseg reads up to %d (update nvseg)"
                         % (path, payload.get("format_version"), FORMAT_VERSION))
    return payload


def read_metadata(path):
    """The metadata dict of a checkpoint, without building the network."""
    return _read(path)["metadata"]


def load_checkpoint(path, device="cpu", expected_sha256=None):
    """(network in eval mode on ``device``, metadata) from a checkpoint file.

    With ``expected_sha256`` the file's digest is checked first (ModelError on mismatch).
    """
    if expected_sha256 is not None:
        verify_sha256(path, expected_sha256)
    payload = _read(path)
    meta = payload["metadata"]
    config = meta.get("network") or {}
    try:
        network = build_network(config.get("name"), config.get("hyper") or {})
    except InputError as error:
        raise ModelError("%s describes a network this nvseg cannot build: %s" % (path, error))
    state = {key: value.float() if value.is_floating_point() else value
             for key, value in payload["state_dict"].items()}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise ModelError("weights in %s do not match its network description (%s)"
                         % (path, one_line(error)[:200]))
    return network.to(device).eval(), meta


def sha256_of(path, chunk_bytes=1 << 20):
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path, expected):
    """Raise ModelError unless the file at ``path`` has sha256 ``expected`` (hex, any case)."""
    if not os.path.isfile(path):
        raise ModelError("model file not found: %s" % path)
    actual = sha256_of(path)
    if actual != str(expected).strip().lower():
        raise ModelError("model file %s is corrupt or not the expected one (sha256 %s, expected %s)"
                         % (path, actual, expected))
    return actual
