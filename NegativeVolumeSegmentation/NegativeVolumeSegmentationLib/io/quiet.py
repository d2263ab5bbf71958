"""Keep ITK, GDCM, MetaIO, NIfTI and VTK messages off stderr while our code calls them.

stderr carries only our own messages (one line each). The libraries print in two ways:
ITK and VTK objects through their output windows (switched off here with
``sitk.ProcessObject.SetGlobalWarningDisplay(False)`` and ``vtkObject.GlobalWarningDisplayOff()``),
and C/C++ code (MetaIO ``Cannot open data file``, nifticlib, GDCM) straight to file descriptor 2,
which is redirected to a temporary file for the duration. What they said is kept in the list the
context manager yields, for callers that want to turn a message into one of their own warnings;
everything else is dropped. The problems they report are detected and reported by our checks.
"""

import contextlib
import os
import sys
import tempfile
import threading

import SimpleITK as sitk

_LOCK = threading.RLock()
_DEPTH = [0]
_MAX_KEPT_BYTES = 65536           # library chatter kept for callers; the rest is dropped


def _vtk_common():
    """vtkCommonCore when VTK is already imported (never import VTK just to silence it)."""
    return sys.modules.get("vtkmodules.vtkCommonCore")


@contextlib.contextmanager
def quiet_libraries():
    """Context manager: library warnings and raw stderr output are collected, not shown.

    Yields a list that, after the block, holds the non-empty lines the libraries wrote.
    Nested and multi-threaded use is safe (the outermost block owns the redirection).
    """
    messages = []
    with _LOCK:
        _DEPTH[0] += 1
        outer = _DEPTH[0] == 1
        sitk_shown = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)
        vtk_core = _vtk_common()
        vtk_shown = vtk_core.vtkObject.GetGlobalWarningDisplay() if vtk_core else None
        if vtk_core:
            vtk_core.vtkObject.GlobalWarningDisplayOff()
        saved, capture = None, None
        if outer:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError):
                pass
            try:
                capture = tempfile.TemporaryFile()
                saved = os.dup(2)
                os.dup2(capture.fileno(), 2)
            except OSError:       # no fd 2 (embedded interpreter): output windows are off anyway
                if capture is not None:
                    capture.close()
                saved, capture = None, None
        try:
            yield messages
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                text = capture.read(_MAX_KEPT_BYTES).decode("utf-8", "replace")
                capture.close()
                messages.extend(line.strip() for line in text.splitlines() if line.strip())
            if vtk_core:
                vtk_core.vtkObject.SetGlobalWarningDisplay(vtk_shown)
            sitk.ProcessObject.SetGlobalWarningDisplay(sitk_shown)
            _DEPTH[0] -= 1
