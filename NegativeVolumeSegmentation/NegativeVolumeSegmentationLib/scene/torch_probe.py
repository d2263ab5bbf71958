"""What compute is available, found WITHOUT importing torch (cheap enough for a panel to show).

:mod:`.device` imports torch and answers exactly; this module only looks: whether a torch package
is installed (``importlib.util.find_spec``, which does not import it), its version and CUDA build
read from the package's ``version.py`` text, and whether an NVIDIA driver is present (the
``/proc/driver/nvidia`` folder on Linux, ``nvidia-smi`` on the PATH elsewhere). The answer can be
wrong in rare set-ups (a driver too old for the CUDA build); the run itself reports the device
it really used (report.json ``device``, ``device_description``).
"""

import importlib.util
import os
import re
import shutil


def torch_package():
    """(installed, version, cuda version) of the torch package, without importing it.

    ``version`` and ``cuda`` are strings or None (``cuda`` None: a CPU build or unknown).
    """
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return False, None, None
    version = cuda = None
    for folder in spec.submodule_search_locations or ():
        path = os.path.join(folder, "version.py")
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        version = match.group(1) if match else None
        match = re.search(r"^cuda\s*(?::[^=\n]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
        cuda = match.group(1) if match else None
        break
    return True, version, cuda


def older_than(version, minimum):
    """Whether the version text ``version`` (e.g. "2.1.0+cpu") is below ``minimum`` ("1.13");
    False when it cannot be read."""
    match = re.match(r"(\d+)\.(\d+)", version or "")
    wanted = tuple(int(part) for part in str(minimum).split(".")[:2])
    return bool(match) and (int(match.group(1)), int(match.group(2))) < wanted


def nvidia_driver_present():
    """True when an NVIDIA driver is installed (a CUDA GPU is likely usable)."""
    if os.path.isdir("/proc/driver/nvidia/gpus") and os.listdir("/proc/driver/nvidia/gpus"):
        return True
    return shutil.which("nvidia-smi") is not None


class Probe(object):
    """``torch_installed``, ``torch_version``, ``torch_cuda`` (CUDA version of the build or None),
    ``nvidia`` (driver found), ``auto`` (what "auto" will most likely pick: "cuda" or "cpu"),
    ``text`` (one line for the panel)."""

    def __init__(self, torch_installed, torch_version, torch_cuda, nvidia):
        self.torch_installed = torch_installed
        self.torch_version = torch_version
        self.torch_cuda = torch_cuda
        self.nvidia = nvidia
        self.auto = "cuda" if (torch_installed and torch_cuda and nvidia) else "cpu"
        gpu = "NVIDIA GPU found" if nvidia else "no NVIDIA GPU found"
        if not torch_installed:
            self.text = ("%s; PyTorch is not installed yet (it is installed on Apply, after you "
                         "confirm)" % gpu)
        elif torch_cuda and nvidia:
            self.text = "%s; PyTorch %s (CUDA %s): auto runs on the GPU" % (
                gpu, torch_version or "?", torch_cuda)
        elif nvidia:
            self.text = "%s, but PyTorch %s is a CPU build: auto runs on the CPU" % (
                gpu, torch_version or "?")
        else:
            self.text = "%s; PyTorch %s: auto runs on the CPU" % (gpu, torch_version or "?")

    def __repr__(self):
        return "Probe(%s)" % self.text


def probe():
    """A :class:`Probe` of this machine (no torch import; file look-ups only)."""
    installed, version, cuda = torch_package()
    return Probe(installed, version, cuda, nvidia_driver_present())
