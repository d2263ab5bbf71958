"""PyTorch for the Slicer panel: what is missing, and installing it when the user agrees.

Segmenting a CT needs PyTorch (the checkpoint loader uses ``torch.load(weights_only=...)``:
1.13 or newer). Slicer does not bundle it. :func:`torch_problem` says what is missing without
importing torch (:mod:`.torch_probe`); :func:`ensure_torch` asks and installs, only when the
panel's Apply needs it, never at import: through SlicerPyTorch's PyTorchUtils (which picks the
build for the GPU driver) when that extension is present, else with pip after a confirmation.
``slicer`` is imported inside the function (this module is importable without Slicer); Qt stays
in the panel (the wait cursor comes in as ``busy``).
"""

import contextlib
import logging

from ..errors import error_line
from . import torch_probe

TORCH_MINIMUM = "1.13"
TORCH_REQUIREMENT = ">=" + TORCH_MINIMUM


def torch_problem():
    """None when PyTorch >= ``TORCH_MINIMUM`` is installed, else one line saying what is missing.
    Reads the installed version without importing torch."""
    installed, version, _cuda = torch_probe.torch_package()
    if not installed:
        return ("Segmenting the CT needs PyTorch %s or newer, which is not installed."
                % TORCH_MINIMUM)
    if torch_probe.older_than(version, TORCH_MINIMUM):
        return ("Segmenting the CT needs PyTorch %s or newer; PyTorch %s is installed."
                % (TORCH_MINIMUM, version))
    return None


def ensure_torch(show_status, busy=contextlib.nullcontext):
    """True when PyTorch >= 1.13 is installed, or was installed now after asking (see the module
    docstring). Whatever goes wrong (the user says no, the installer returns None or raises, the
    version is still too old) ends as one line given to ``show_status(text)`` and False; the
    caller leaves the panel ready for another Apply. ``busy()``: a context manager held while
    pip downloads (the panel's wait cursor)."""
    problem = torch_problem()
    if problem is None:
        return True
    import slicer

    try:
        import PyTorchUtils
    except ImportError:
        PyTorchUtils = None
    try:
        if PyTorchUtils is not None:
            torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
                askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT)
            if torch is None:
                show_status("Not started: segmenting the CT needs PyTorch %s or newer, and it "
                            "was not installed." % TORCH_MINIMUM)
                return False
        else:
            if not slicer.util.confirmOkCancelDisplay(
                    problem + " Install it now with pip (torch%s; a large download; the CPU "
                    "build where there is no NVIDIA GPU)?\n\nAlternatively install the "
                    "PyTorch extension from the Extensions Manager and restart Slicer."
                    % TORCH_REQUIREMENT, "Negative Volume Segmentation"):
                show_status("Not started: segmenting the CT needs PyTorch %s or newer "
                            "(installing it was declined)." % TORCH_MINIMUM)
                return False
            with busy():
                slicer.util.pip_install("torch" + TORCH_REQUIREMENT)
    except Exception as error:  # the installer failed: say so, keep the panel usable
        message = error_line(error)
        logging.exception("PyTorch could not be installed")
        show_status("Not started: PyTorch could not be installed: " + message)
        slicer.util.errorDisplay("PyTorch could not be installed:\n" + message)
        return False
    problem = torch_problem()  # what is on disk now
    if problem is not None:
        show_status("Not started: " + problem)
        return False
    return True
