"""Render the "Use in 3D Slicer" screenshots (docs/slicer_*.png) with Slicer's own views.

    .venv/bin/python docs/scripts/slicer_screenshots.py [--out docs] [--seed 24] [--size 400]

What it does, end to end, the way a clinician's session goes: a head phantom CT (whole head,
clinical CT spacing) is loaded as a volume node; its condyle and temporal-bone labels become the
four input segments (what the Segment Editor or `nvseg run` would give); the module's Logic
(NegativeVolumeSegmentationLib.scene.logic) measures both joints and writes the NV segments,
thickness models and the results table; then Slicer's displayable managers draw (offscreen,
slicer_render) per joint the Red (axial), Green (coronal) and Yellow (sagittal) slice views
through the reported condyle centre with the segmentation over the CT in the bone window, and
the 3D view with the thickness-coloured condyle, the NV and the translucent temporal bone.

Writes docs/slicer_left_joint.png, docs/slicer_right_joint.png (Slicer's "Four-Up" layout),
docs/slicer_3d_both.png (both joints from the front), docs/slicer_thickness.png (each condyle
from above, coloured by joint space) and prints the results table.
Needs slicer-core and offscreen OpenGL (EGL, or OSMesa: libosmesa6 and
VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow).
"""

import argparse
import os
import sys
import time
import types

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

import slicer  # noqa: E402

from NegativeVolumeSegmentationLib import labels as L  # noqa: E402
from NegativeVolumeSegmentationLib.scene import mrml_bridge
from NegativeVolumeSegmentationSelfTest import render as slicer_render  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom  # noqa: E402
from NegativeVolumeSegmentationLib.scene.logic import (  # noqa: E402
    MeasurementLogic)

# Slicer's view colours (the bar above each view): Red, Green, Yellow, 3D blue.
VIEW_COLOURS = {"Axial": (241, 89, 77), "Coronal": (110, 176, 75), "Sagittal": (237, 213, 76),
                "3D": (116, 120, 190)}
BAR = 6  # px
NV_OPACITY_JOINT = 0.25  # NV over the thickness-coloured condyle in the per-joint 3D view


def start_scene():
    """A scene set up as Slicer's startup does (colours, segmentations logic, slicer.mrmlScene)."""
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkSlicerColorLogic()
    colors.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations))
    return scene, (colors, segmentations)


def with_bar(pixels, view):
    """The view with Slicer's coloured bar on top."""
    bar = np.zeros((BAR, pixels.shape[1], 3), np.uint8)
    bar[:] = VIEW_COLOURS[view]
    return np.concatenate([bar, pixels], axis=0)


def four_up(panels):
    """2 x 2 mosaic (Slicer's Four-Up: Red top left, 3D top right, Yellow / Green below)."""
    gap = np.full((panels[0].shape[0], 2, 3), 40, np.uint8)
    top = np.concatenate([panels[0], gap, panels[1]], axis=1)
    bottom = np.concatenate([panels[2], gap, panels[3]], axis=1)
    return np.concatenate([top, np.full((2, top.shape[1], 3), 40, np.uint8), bottom], axis=0)


def segment_names(side):
    return {key: L.BY_VALUE[table[side]].name for key, table in
            (("condyle", L.CONDYLE), ("bone", L.TEMPORAL_BONE), ("nv", L.NEGATIVE_VOLUME))}


def patient_letter(vector_lps):
    """Patient direction (R/L, A/P, I/S) that an LPS vector points to most."""
    axis = int(np.argmax(np.abs(vector_lps)))
    return ("RL", "AP", "IS")[axis][int(vector_lps[axis] > 0)]


def screen_sides(from_direction_lps, view_up_lps=(0.0, 0.0, 1.0)):
    """Annotations naming the patient direction at the 3D view's left and right edges."""
    toward_scene = -np.asarray(from_direction_lps, float)
    screen_right = np.cross(toward_scene, np.asarray(view_up_lps, float))
    return ((patient_letter(-screen_right), 0.02, 0.04),
            (patient_letter(screen_right), 0.98, 0.04))


def slice_sides(image):
    """Annotations naming the patient direction at a slice view's left and right edges,
    read from the view's own pixel -> LPS map."""
    row = image.pixels.shape[0] // 2
    centre = image.lps_of_pixel(row, image.pixels.shape[1] // 2)
    leftward = image.lps_of_pixel(row, 0) - centre
    return ((patient_letter(leftward), 0.02, 0.5), (patient_letter(-leftward), 0.98, 0.5))


def joint_views(renderer, ct_node, results, scene, side, fov_mm):
    """Four-Up picture of one joint through the reported condyle centre (LPS mm)."""
    centre = np.array(results[side]["condyle_center_lps_mm"], float)
    title = "%s joint" % side.capitalize()
    lateral = 1.0 if side == L.LEFT else -1.0  # LPS +x is the patient's left
    panels = {}
    for orientation in slicer_render.ORIENTATIONS:
        image = renderer.slice_view(orientation, centre, ct_node, field_of_view_mm=fov_mm)
        image = renderer.slice_view(orientation, centre, ct_node, field_of_view_mm=fov_mm,
                                    texts=(("%s  %s" % (orientation, title), 0.02, 0.98),)
                                    + slice_sides(image))
        panels[orientation] = with_bar(image.pixels, orientation)
    names, other = segment_names(side), segment_names(L.other_side(side))
    opacity = {names["condyle"]: 0.0, names["bone"]: 0.2, names["nv"]: NV_OPACITY_JOINT}
    opacity.update({name: 0.0 for name in other.values()})  # the other joint stays out
    model = scene.GetNodeByID(results["nodes"]["thickness_models"][side])
    direction = (lateral, -0.6, 0.8)  # from the side, the front and above
    pixels = renderer.threed_view(
        centre + np.array([0.0, 0.0, 3.0]), from_direction_lps=direction,
        distance_mm=1.3 * fov_mm, segment_opacity=opacity,
        hidden_nodes=[scene.GetNodeByID(results["nodes"]["thickness_models"][L.other_side(side)])],
        legend_model=model,
        texts=(("3D  %s" % title, 0.02, 0.98),) + screen_sides(direction))
    panels["3D"] = with_bar(pixels, "3D")
    return four_up([panels["Axial"], panels["3D"], panels["Sagittal"], panels["Coronal"]])


def both_joints(renderer, results, scene, from_direction, view_up, hide, caption, margin_mm):
    """Both joints in one 3D view; ``hide``: opacity per structure key (condyle, bone, nv)."""
    centres = np.array([results[s]["condyle_center_lps_mm"] for s in L.SIDES if results[s]])
    middle = centres.mean(axis=0)
    width = np.ptp(centres[:, 0]) + margin_mm  # mm across the view (room for the legend)
    aspect = float(renderer.size[0]) / renderer.size[1]
    opacity = {}
    for side in L.SIDES:
        names = segment_names(side)
        opacity.update({names[key]: value for key, value in hide.items()})
    model = scene.GetNodeByID(results["nodes"]["thickness_models"][L.LEFT])
    pixels = renderer.threed_view(
        middle + np.array([0.0, 0.0, 3.0]), from_direction_lps=from_direction,
        view_up_lps=view_up,
        distance_mm=width / (2.0 * np.tan(np.radians(15.0)) * aspect),
        segment_opacity=opacity, legend_model=model,
        texts=(("3D  " + caption, 0.02, 0.98),) + screen_sides(from_direction, view_up))
    return with_bar(pixels, "3D")


def condyles_from_above(renderer, results, scene, width_mm=32.0):
    """Each condyle from above (anterior up), coloured by joint space, side by side: the
    patient's right joint on the screen's right, as in a view from above."""
    panels = []
    hide = {}
    for side in L.SIDES:
        hide.update({name: 0.0 for name in segment_names(side).values()})
    for side in (L.LEFT, L.RIGHT):
        if results[side] is None:
            continue
        centre = np.array(results[side]["condyle_center_lps_mm"], float)
        other = scene.GetNodeByID(results["nodes"]["thickness_models"][L.other_side(side)])
        direction, up = (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)
        pixels = renderer.threed_view(
            centre + np.array([0.0, 0.0, 3.0]), from_direction_lps=direction, view_up_lps=up,
            distance_mm=width_mm / (2.0 * np.tan(np.radians(15.0))), segment_opacity=hide,
            hidden_nodes=[other],
            texts=(("3D  %s condyle from above, anterior up" % side.capitalize(), 0.02, 0.98),)
            + screen_sides(direction, up))
        panels.append(with_bar(pixels, "3D"))
    gap = np.full((panels[0].shape[0], 2, 3), 40, np.uint8)
    return np.concatenate([panels[0]] + [x for p in panels[1:] for x in (gap, p)], axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--size", type=int, default=400, help="pixels per view")
    parser.add_argument("--fov", type=float, default=50.0, help="slice view width (mm)")
    args = parser.parse_args(argv)
    problem = slicer_render.offscreen_problem()
    if problem:
        sys.exit(problem)

    start = time.perf_counter()
    phantom = make_phantom("head", seed=args.seed, fov="head", mouth="closed")
    scene, _logics = start_scene()
    ct_node = mrml_bridge.volume_node_from_image(phantom.ct, scene, "Head CT")
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "TMJ segmentation")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation_node,
                                         values=[L.CONDYLE[s] for s in L.SIDES]
                                         + [L.TEMPORAL_BONE[s] for s in L.SIDES])
    made = time.perf_counter()
    results = MeasurementLogic().process(ct_node, segmentation_node, segment=False)
    measured = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    written = []
    with slicer_render.SceneRenderer(scene, size=(args.size, args.size)) as renderer:
        for side in L.SIDES:
            if results[side] is None:
                continue
            path = os.path.join(args.out, "slicer_%s_joint.png" % side)
            slicer_render.write_png(joint_views(renderer, ct_node, results, scene, side,
                                                args.fov), path)
            written.append(path)
    with slicer_render.SceneRenderer(scene, size=(2 * args.size, args.size)) as renderer:
        path = os.path.join(args.out, "slicer_3d_both.png")
        slicer_render.write_png(both_joints(
            renderer, results, scene, (0.0, -1.0, 0.45), (0.0, 0.0, 1.0),
            {"condyle": 0.0, "bone": 0.3, "nv": 0.6}, "both joints from the front: "
            "temporal bone, negative volume, condyles by joint space", 100.0), path)
        written.append(path)
    with slicer_render.SceneRenderer(scene, size=(args.size, args.size)) as renderer:
        path = os.path.join(args.out, "slicer_thickness.png")
        slicer_render.write_png(condyles_from_above(renderer, results, scene), path)
        written.append(path)
    rendered = time.perf_counter()

    table = scene.GetNodeByID(results["nodes"]["table"]).GetTable()
    print("| %s |" % " | ".join(table.GetColumnName(c) for c in range(table.GetNumberOfColumns())))
    for row in range(table.GetNumberOfRows()):
        cells = [table.GetValue(row, c) for c in range(table.GetNumberOfColumns())]
        print("| %s |" % " | ".join(
            ("%.1f" % c.ToDouble()) if c.IsNumeric() else c.ToString() for c in cells))
    for side in L.SIDES:
        truth = phantom.truth[side]
        if truth and results[side]:
            print("%s NV %.1f mm3 (phantom truth %.1f mm3)" % (
                side, results[side]["negative_volume_mm3"], truth["negative_volume_mm3"]))
    print("phantom %.1f s, Logic %.1f s, rendering %.1f s" % (
        made - start, measured - made, rendered - measured))
    for path in written:
        print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
