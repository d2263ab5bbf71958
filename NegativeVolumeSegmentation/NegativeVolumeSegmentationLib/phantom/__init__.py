"""Synthetic TMJ phantoms with known truth: what models train on and what tests measure against.

Two kinds:
- ``head``: a whole-head (or CBCT-like cropped) CT that looks like real CT around both joints,
  randomised per seed (see :mod:`.head`).
- ``analytic``: a spherical or ellipsoidal condyle under a concentric fossa cap whose negative
  volume is known in closed form (see :mod:`.analytic`).

Both return a :class:`Phantom`: the CT (int16 HU), the label map (values of :mod:`..labels`, 1-6)
on the same grid, and ``truth`` (parameters plus, per side, the report.json keys).
"""

import json
import os

import SimpleITK as sitk

from ..io.results_folder import staged_output
from .case import Phantom  # noqa: F401 (the result type of make_phantom)

KINDS = ("head", "analytic")


def make_phantom(kind="head", seed=0, **options):
    """Generate a phantom of ``kind`` ("head" or "analytic") for ``seed``; options go to the kind."""
    if kind == "head":
        from .head import make_head_phantom

        return make_head_phantom(seed=seed, **options)
    if kind == "analytic":
        from .analytic import make_analytic_phantom

        return make_analytic_phantom(seed=seed, **options)
    raise ValueError("unknown phantom kind %r (expected one of %s)" % (kind, ", ".join(KINDS)))


def write_phantom(phantom, out_dir):
    """Write ``ct.nii.gz``, ``labels.nii.gz`` and ``truth.json`` into ``out_dir`` (all or nothing)."""
    with staged_output(out_dir) as stage:
        sitk.WriteImage(phantom.ct, os.path.join(stage, "ct.nii.gz"), useCompression=True)
        sitk.WriteImage(phantom.labels, os.path.join(stage, "labels.nii.gz"), useCompression=True)
        with open(os.path.join(stage, "truth.json"), "w") as f:
            json.dump(phantom.truth, f, indent=2, sort_keys=False)
            f.write("\n")
