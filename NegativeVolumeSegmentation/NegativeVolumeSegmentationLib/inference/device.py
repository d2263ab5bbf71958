"""Compute device choice for inference: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.

``choose_device`` says what was found (for report.json and the log); ``run_with_cpu_fallback``
runs a step on the chosen device and, when CUDA runs out of memory, runs it again on the CPU
with a warning instead of failing the case.

Precision: float16 autocast on CUDA; bfloat16 autocast on a CPU with native bfloat16 instructions
(AMX-BF16 or AVX512-BF16), where benchmarks/bench_cpu_bf16.py measured it 1.6x (segmentation) and
2.7x (localiser) faster with 103 of 737 280 crop voxels changing label and the same pipeline
numbers (docs/training.md); float32 on other CPUs, which emulate bfloat16 and run it slower.
"""

import os

import torch

from ..errors import InputError
from ..options import DEVICES



def cpu_has_native_bf16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU flags list AMX-BF16 or AVX512-BF16 (Linux; False where unknown)."""
    try:
        with open(cpuinfo) as stream:
            for line in stream:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except (IOError, OSError):
        pass
    return False


class DeviceChoice(object):
    """``device`` (torch.device), ``name`` ("cpu" / "cuda"), ``description`` (what was found),
    ``half`` (reduced-precision autocast: float16 on CUDA, bfloat16 on a CPU with native
    bfloat16; module docstring)."""

    def __init__(self, device, description):
        self.device = torch.device(device)
        self.name = self.device.type
        self.half = self.device.type == "cuda" or (self.device.type == "cpu"
                                                   and cpu_has_native_bf16())
        precision = ("float16" if self.name == "cuda" else "bfloat16") if self.half else "float32"
        self.description = "%s, %s" % (description, precision)

    def __repr__(self):
        return "DeviceChoice(%s: %s)" % (self.name, self.description)


def _cuda_description():
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return "cuda:%d %s (%.1f GiB)" % (index, props.name, props.total_memory / 2.0 ** 30)


def choose_device(request="auto"):
    """The device for ``request`` ("auto", "cpu" or "cuda"); InputError for an unknown request
    or for "cuda" when no CUDA device is available."""
    request = str(request or "auto").lower()
    if request not in DEVICES:
        raise InputError("device must be one of %s, got %r" % ("|".join(DEVICES), request))
    has_cuda = torch.cuda.is_available()
    if request == "cuda" and not has_cuda:
        raise InputError("device cuda was asked for but no CUDA device is available "
                         "(torch %s); use device cpu or auto" % torch.__version__)
    if request in ("auto", "cuda") and has_cuda:
        return DeviceChoice("cuda", _cuda_description())
    threads = torch.get_num_threads()
    found = "no CUDA device found" if request == "auto" else "CPU requested"
    return DeviceChoice("cpu", "cpu (%d threads; %s)" % (threads, found))


def is_out_of_memory(error):
    """True for a CUDA out-of-memory error (any torch version)."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def run_with_cpu_fallback(step, choice, warnings, what="inference"):
    """``step(choice)`` on the chosen device; on CUDA out-of-memory, warn and run
    ``step(cpu choice)``. Returns (result, the choice actually used)."""
    try:
        return step(choice), choice
    except Exception as error:  # only CUDA OOM is handled; anything else propagates
        if choice.name != "cuda" or not is_out_of_memory(error):
            raise
    torch.cuda.empty_cache()
    warnings.append("CUDA ran out of memory during %s; it was repeated on the CPU (slower)" % what)
    cpu = DeviceChoice("cpu", "cpu (fallback after CUDA out of memory)")
    return step(cpu), cpu
