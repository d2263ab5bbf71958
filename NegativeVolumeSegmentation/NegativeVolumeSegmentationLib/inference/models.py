"""Bundled models: where they are found, their sha256 check, loading them onto a device.

The model folder is ``NVSEG_MODEL_DIR`` when set, else the repository's ``models/``, else the
Slicer module's ``Resources/Models``. It holds ``tmj_localizer.pt`` and ``tmj_segmentation.pt``,
each checked against its sha256 in ``SHA256SUMS`` (``sha256sum`` format) before loading.
"""

import os

from ..errors import ModelError
from .checkpoint import load_checkpoint, verify_sha256

MODEL_FILES = {"localizer": "tmj_localizer.pt", "segmentation": "tmj_segmentation.pt"}
CHECKSUMS = "SHA256SUMS"


def model_dir_candidates():
    """Folders searched for bundled models, in order."""
    module_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = []
    if os.environ.get("NVSEG_MODEL_DIR"):
        found.append(os.environ["NVSEG_MODEL_DIR"])
    found.append(os.path.normpath(os.path.join(module_dir, "..", "models")))
    found.append(os.path.normpath(os.path.join(module_dir, "Resources", "Models")))
    return found


def default_model_dir():
    """``NVSEG_MODEL_DIR`` when set (a folder without the models is then the user's error, never
    passed over for the bundled ones), else the first candidate folder holding the segmentation
    model (else the first candidate)."""
    if os.environ.get("NVSEG_MODEL_DIR"):
        return os.environ["NVSEG_MODEL_DIR"]
    candidates = model_dir_candidates()
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, MODEL_FILES["segmentation"])):
            return folder
    return candidates[0]


def read_checksums(folder):
    """{file name: sha256} from ``folder/SHA256SUMS``; ModelError when it is missing."""
    path = os.path.join(folder, CHECKSUMS)
    if not os.path.isfile(path):
        raise ModelError("model checksum file not found: %s (needed to verify the bundled models)"
                         % path)
    sums = {}
    with open(path) as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


class Models(object):
    """Loaded networks and their metadata: ``segmentation`` and ``localizer`` as (net, meta),
    ``files`` {kind: path}, ``sha256`` {kind: the file's checked sha256} (empty for networks
    made in memory)."""

    def __init__(self, segmentation, localizer, files, sha256=None):
        self.segmentation = segmentation
        self.localizer = localizer
        self.files = files
        self.sha256 = dict(sha256 or {})

    def provenance(self):
        """report.json's ``models`` {kind: file name} and ``model_sha256`` {kind: sha256}: which
        networks made the numbers (``nvseg run --resume`` keeps only results of the same)."""
        return {"models": dict((k, os.path.basename(v)) for k, v in self.files.items()),
                "model_sha256": dict(self.sha256)}

    def to(self, device):
        for net, _meta in (self.segmentation, self.localizer):
            net.to(device)
        return self


def load_models(model_dir=None, device="cpu"):
    """Both bundled models from ``model_dir`` after their sha256 check (ModelError naming the
    missing or corrupt file otherwise), on ``device``: "cpu", "cuda" or "auto"
    (:func:`.device.choose_device`: InputError in one line for "cuda" without a CUDA device or
    an unknown name), or a torch device."""
    if isinstance(device, str):
        from .device import choose_device

        device = choose_device(device).device
    folder = model_dir or default_model_dir()
    paths = dict((kind, os.path.join(folder, name)) for kind, name in MODEL_FILES.items())
    for kind in ("segmentation", "localizer"):
        if not os.path.isfile(paths[kind]):
            raise ModelError("bundled %s model not found: %s (train it with nvseg train or set "
                             "NVSEG_MODEL_DIR)" % (kind, paths[kind]))
    sums = read_checksums(folder)
    loaded, checked = {}, {}
    for kind, path in paths.items():
        name = os.path.basename(path)
        if name not in sums:
            raise ModelError("%s has no sha256 entry in %s" % (path, os.path.join(folder, CHECKSUMS)))
        verify_sha256(path, sums[name])
        checked[kind] = sums[name]
        loaded[kind] = load_checkpoint(path, device=device)
        task = (loaded[kind][1].get("extra") or {}).get("task")
        if task is not None and task != kind:   # a model in the other's place (--model-dir)
            raise ModelError("%s is a %s model, in the place of the %s model (%s)"
                             % (path, task, kind, MODEL_FILES[kind]))
    return Models(loaded["segmentation"], loaded["localizer"], paths, checked)
