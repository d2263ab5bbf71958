"""Make docs/thickness.png: a condyle coloured by joint-space thickness, its NV and the fossa.

    .venv/bin/python docs/scripts/thickness_figure.py [--out docs/thickness.png] [--seed 0]

Uses the project's own code end to end: the head phantom's left joint (CBCT-like crop, 0.3 mm;
``--kind analytic`` for the ellipsoid phantom), the NV engine (measure_negative_volume), and VTK
offscreen rendering. Where the default OpenGL window
cannot open without a display, set VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow (needs
libosmesa6). The camera looks from anterior-lateral-superior; LPS mm.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

from vtkmodules.vtkCommonCore import vtkLookupTable  # noqa: E402
from vtkmodules.vtkIOImage import vtkPNGWriter  # noqa: E402
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor  # noqa: E402
from vtkmodules.vtkRenderingCore import (vtkActor, vtkPolyDataMapper, vtkRenderer,  # noqa: E402
                                         vtkRenderWindow, vtkTextActor,
                                         vtkWindowToImageFilter)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402,F401  (registers the OpenGL back end)
import vtkmodules.vtkRenderingFreeType  # noqa: E402,F401  (text)

from NegativeVolumeSegmentationLib import labels as L  # noqa: E402
from NegativeVolumeSegmentationLib.report import thickness_colors  # noqa: E402
from NegativeVolumeSegmentationLib.engine.nv_mask import THICKNESS_ARRAY  # noqa: E402
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume  # noqa: E402
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom  # noqa: E402


def _camera(ren, centre, direction, up, distance):
    """Look at ``centre`` from ``centre + distance * direction`` (LPS mm)."""
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    cam = ren.GetActiveCamera()
    cam.SetFocalPoint(*centre)
    cam.SetPosition(*(centre + distance * direction))
    cam.SetViewUp(*up)
    cam.SetViewAngle(30.0)
    ren.ResetCameraClippingRange()


def _label(ren, words):
    text = vtkTextActor()
    text.SetInput(words)
    text.GetTextProperty().SetFontSize(17)
    text.GetTextProperty().SetColor(0.1, 0.1, 0.1)
    text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    text.GetPositionCoordinate().SetValue(0.03, 0.94)
    ren.AddViewProp(text)


def _actor(poly, color=None, opacity=1.0, lut=None, value_range=None):
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    if lut is not None:
        mapper.SetLookupTable(lut)
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(THICKNESS_ARRAY)
        mapper.SetScalarRange(*value_range)
        mapper.ScalarVisibilityOn()
    else:
        mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    if color is not None:
        actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetOpacity(opacity)
    return actor


def thickness_lut():
    """The product's thickness scale (report/thickness_colors.py: red thin, yellow 1.5 mm,
    green 3 mm, blue 5 mm and more, as in Slicer and report.png); grey below 0.01 mm (no
    contact)."""
    lut = vtkLookupTable()
    lut.SetNumberOfTableValues(256)
    lut.SetTableRange(0.0, thickness_colors.MAX_MM)
    for i, (r, g, b) in enumerate(thickness_colors.rgb(
            np.maximum(np.linspace(0.0, thickness_colors.MAX_MM, 256), 0.01))):
        lut.SetTableValue(i, r, g, b, 1.0)
    lut.SetBelowRangeColor(*thickness_colors.NO_CONTACT_RGB, 1.0)
    lut.UseBelowRangeColorOn()
    return lut


def render(out_path, seed=0, size=(1400, 760), kind="head"):
    if kind == "head":
        from NegativeVolumeSegmentationLib.phantom import make_phantom

        ph = make_phantom("head", seed=seed, fov="cbct-left", mouth="closed",
                          spacing=(0.3, 0.3, 0.3))
        truth_js = ph.truth["left"].get("joint_space_superior_mm")
    else:
        ph = make_analytic_phantom(seed=seed, variant="ellipsoid", spacing=(0.3,) * 3,
                                   sides=("left",), joint_space_mm=2.5, cap_half_angle_deg=65.0)
        truth_js = ph.truth["left"]["joint_space_mm"]
    res = measure_negative_volume(ph.labels)
    values = res.sides["left"]
    meshes = res.meshes["left"]
    lut = thickness_lut()
    h_max = thickness_colors.MAX_MM

    centre = np.asarray(values["condyle_center_lps_mm"], float)
    nv_color = L.BY_VALUE[L.NEGATIVE_VOLUME[L.LEFT]].color
    tb_color = L.BY_VALUE[L.TEMPORAL_BONE[L.LEFT]].color

    # Left panel: the condyle alone seen from above (LPS +z), anterior (-y) up; screen right is
    # then -x, the patient's right (medial for this left joint).
    top = vtkRenderer()
    top.SetViewport(0.0, 0.08, 0.5, 1.0)
    top.SetBackground(1.0, 1.0, 1.0)
    top.AddActor(_actor(meshes["condyle"], lut=lut, value_range=(0.01, h_max)))
    _camera(top, centre, direction=(0.0, 0.0, 1.0), up=(0.0, -1.0, 0.0), distance=48.0)
    _label(top, "Condyle from above (anterior up, lateral left, medial right)")

    # Right panel: lateral view (from the patient's left, +x) with the NV and the fossa.
    side = vtkRenderer()
    side.SetViewport(0.5, 0.08, 1.0, 1.0)
    side.SetBackground(1.0, 1.0, 1.0)
    side.AddActor(_actor(meshes["condyle"], lut=lut, value_range=(0.01, h_max)))
    side.AddActor(_actor(meshes["negative_volume"], color=nv_color, opacity=0.45))
    side.AddActor(_actor(meshes["temporal_bone"], color=tb_color, opacity=0.18))
    _camera(side, centre, direction=(1.0, 0.0, 0.25), up=(0.0, 0.0, 1.0), distance=70.0)
    _label(side, "Lateral view: negative volume (green), temporal bone (blue)")

    bar = vtkScalarBarActor()
    bar.SetLookupTable(lut)
    bar.SetTitle("Joint space (mm)")
    bar.SetOrientationToHorizontal()
    bar.SetNumberOfLabels(6)
    bar.SetLabelFormat("%.0f")
    bar.SetPosition(0.08, 0.03)
    bar.SetWidth(0.4)
    bar.SetHeight(0.14)
    bar.UnconstrainedFontSizeOn()
    bar.GetTitleTextProperty().SetFontSize(16)
    bar.GetLabelTextProperty().SetFontSize(14)
    for prop in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
        prop.SetColor(0.1, 0.1, 0.1)
        prop.ItalicOff()
        prop.ShadowOff()
    top.AddViewProp(bar)

    foot = vtkRenderer()
    foot.SetViewport(0.0, 0.0, 1.0, 0.08)
    foot.SetBackground(1.0, 1.0, 1.0)
    text = vtkTextActor()
    text.SetInput("Left TMJ, %s phantom seed %d (grey: no contact within 10 mm). "
                  "NV %.0f mm3 (truth %.0f); superior joint space %.2f mm (truth %.2f)"
                  % (kind, seed, values["negative_volume_mm3"],
                     ph.truth["left"]["negative_volume_mm3"],
                     values["joint_space_superior_mm"] or 0.0, truth_js or 0.0))
    text.GetTextProperty().SetFontSize(15)
    text.GetTextProperty().SetColor(0.1, 0.1, 0.1)
    text.SetPosition(10, 15)
    foot.AddViewProp(text)

    win = vtkRenderWindow()
    win.SetOffScreenRendering(1)
    for ren in (top, side, foot):
        win.AddRenderer(ren)
    win.SetSize(*size)
    win.SetMultiSamples(8)
    win.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(win)
    grab.Update()
    writer = vtkPNGWriter()
    writer.SetFileName(out_path)
    writer.SetInputConnection(grab.GetOutputPort())
    writer.Write()
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "thickness.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("head", "analytic"), default="head")
    args = parser.parse_args(argv)
    values = render(args.out, args.seed, kind=args.kind)
    print("wrote %s (NV %.1f mm3, mean joint space %.2f mm)"
          % (args.out, values["negative_volume_mm3"], values["joint_space_mean_mm"]))


if __name__ == "__main__":
    main()
