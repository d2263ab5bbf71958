"""Offscreen OpenGL with VTK: is it available here, read a frame, write a PNG.

VTK picks its window class at run time (X, then EGL, then OSMesa). Without a display either let
it fall back to EGL or set ``VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow`` (Debian:
libosmesa6). Pixel arrays are [row, column, RGB] uint8 with row 0 at the top of the picture.
"""

import numpy as np
import vtk
from vtk.util import numpy_support

# Draws one red 4 x 4 frame offscreen; prints None or why not. Needs only VTK, so that it can
# also run in a light child process.
_PROBE = """
import vtkmodules.vtkRenderingOpenGL2
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter
def probe():
    try:
        window = vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetSize(4, 4)
        if hasattr(window, "SupportsOpenGL") and not window.SupportsOpenGL():
            return ("no offscreen OpenGL (%s); install libosmesa6 and set "
                    "VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow" % window.GetClassName())
        renderer = vtkRenderer()
        renderer.SetBackground(1.0, 0.0, 0.0)
        window.AddRenderer(renderer)
        window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.ReadFrontBufferOff()
        grab.Update()
        red = grab.GetOutput().GetScalarComponentAsDouble(1, 1, 0, 0)
        window.Finalize()
    except Exception as error:
        return "offscreen OpenGL failed: %s" % error
    if red < 250:
        return "offscreen OpenGL drew nothing (%s)" % window.GetClassName()
    return None
"""


def offscreen_problem(isolated=False):
    """None when an offscreen OpenGL window renders here, else a one-line reason.

    ``isolated``: probe in a child Python process, so that a driver that crashes instead of
    failing cannot take the caller (e.g. a test run) down with it.
    """
    if not isolated:
        namespace = {}
        exec(_PROBE, namespace)
        return namespace["probe"]()
    import subprocess
    import sys

    try:
        run = subprocess.run([sys.executable, "-c", _PROBE + "\nprint(probe() or 'OK')"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as error:
        return "offscreen OpenGL probe failed: %s" % error
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        return "offscreen OpenGL probe exited with status %d" % run.returncode
    return None if lines[-1] == "OK" else lines[-1]


def capture(window):
    """[row, column, RGB] uint8 of a render window's last frame, row 0 at the top."""
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    return np.flipud(array.reshape(height, width, -1)[..., :3]).copy()


def write_png(pixels, path):
    """Write a [row, column, RGB] uint8 array as a PNG file."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    image = vtk.vtkImageData()
    image.SetDimensions(pixels.shape[1], pixels.shape[0], 1)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
        np.flipud(pixels).reshape(-1, 3).copy(), deep=True))
    writer = vtk.vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.Write()
