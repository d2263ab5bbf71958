"""NegativeVolumeSegmentation library: TMJ negative volume (joint space) from head CT.

Importable without 3D Slicer. Everything works in physical space: images are SimpleITK images
carrying origin, spacing and direction; points are LPS millimetres (DICOM/ITK convention: +x is
the patient's left, +y posterior, +z superior).

Data path (docs/architecture.md), one folder per role:

    io (read, check the CT) -> inference (localise, joint search, segment, post-process)
    -> engine (surfaces -> inflate -> NV mask -> measure, per joint) -> report (report.json, png)
    -> scene (Slicer nodes) / cli (files)

:func:`pipeline.run_case` is that line for one CT; the command line, the Slicer Logic (in
process and in the background) and scripts all call it. The public API below is imported
lazily, so ``import NegativeVolumeSegmentationLib`` stays light (no torch, no VTK).
"""

import importlib

__version__ = "0.1.0"

# public name -> module (relative to this package) that defines it
_PUBLIC = {
    "run_case": "pipeline",
    "CaseResult": "case_result",
    "load_models": "inference.models",
    "Models": "inference.models",
    "measure_negative_volume": "engine.measure",
    "NegativeVolumeResult": "engine.measure",
    "build_report": "report.report_json",
    "read_ct": "io.ct",
    "read_label_map": "io.segmentation_files",
    "RunOptions": "options",
    "make_phantom": "phantom",
    "InputError": "errors",
    "ModelError": "errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    """Lazy re-export of the public API (PEP 562)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module("." + _PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
