"""Checks of the module's logic measuring existing segments (no torch needed): the in-process
MeasurementLogic and the background run of ``nvseg negative-volume`` on the analytic sphere
phantom against its closed-form truth, and where the slice views are pointed afterwards.
"""

import os

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from NegativeVolumeSegmentationLib.scene import mrml_bridge

from .common import (INTERFACE_SEGMENTS, _check, _close, _same_numbers, _segment_counts,
                     _segment_volume_mm3, _segment_voxel_count)

def check_logic_on_analytic_phantom(scene, seed=2, condyle_radius_mm=6.5):
    """Logic.process on the analytic sphere phantom (CT + MC/TB segments) against its truth.

    Truth (phantom/analytic.py, closed form): NV = (2 pi (1 - cos theta) / 3)(R^3 - r^3),
    condyle = 4/3 pi r^3, thickness where a ray meets the cap = the joint space R - r.
    Returns the results dict (for the caller to print).
    """
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    phantom = make_phantom("analytic", seed=seed, variant="sphere",
                           condyle_radius_mm=condyle_radius_mm)
    ct_node = mrml_bridge.volume_node_from_image(phantom.ct, scene, "analytic CT")
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "analytic joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation_node, values=[1, 2, 3, 4])
    logic = MeasurementLogic()
    results = logic.process(ct_node, segmentation_node, segment=False)
    # a re-run replaces, never duplicates
    results = logic.measure_existing(ct_node, segmentation_node)
    segmentation = segmentation_node.GetSegmentation()
    _check(segmentation.GetNumberOfSegments() == 6,
           "%d segments after two runs, expected 6" % segmentation.GetNumberOfSegments())
    voxel_mm3 = float(np.prod(phantom.ct.GetSpacing()))
    truth_labels = sitk.GetArrayFromImage(phantom.labels)
    measured_labels, _found = mrml_bridge.labels_from_segmentation(segmentation_node, ct_node)
    measured_labels = sitk.GetArrayFromImage(measured_labels)
    for side, nv_value, ras_sign in (("left", 5, -1.0), ("right", 6, 1.0)):
        truth, values = phantom.truth[side], results[side]
        for key, tolerance in (("negative_volume_mm3", 0.05), ("condyle_volume_mm3", 0.02)):
            error = abs(values[key] - truth[key]) / truth[key]
            _check(error < tolerance, "%s %s: %.1f, truth %.1f (%.1f %%)"
                   % (side, key, values[key], truth[key], 100 * error))
        segment_id = results["nodes"]["segments"][nv_value]
        _check(segmentation.GetSegment(segment_id).GetName() == INTERFACE_SEGMENTS[nv_value][0],
               "NV segment name %r" % segmentation.GetSegment(segment_id).GetName())
        count = _segment_voxel_count(segmentation_node, segment_id)
        _close(count * voxel_mm3, values["negative_volume_mm3"], 1e-6,
               "%s NV segment volume (mm3) vs reported" % side)
        nv = measured_labels == nv_value
        overlap = 200.0 * np.count_nonzero(nv & (truth_labels == nv_value)) / (
            np.count_nonzero(nv) + np.count_nonzero(truth_labels == nv_value))
        _check(overlap > 85.0, "%s NV Dice with the phantom's NV: %.1f %%" % (side, overlap))
        surface = vtk.vtkPolyData()
        segmentation_node.GetClosedSurfaceRepresentation(segment_id, surface)
        points = numpy_support.vtk_to_numpy(surface.GetPoints().GetData())
        _check(np.sign(points[:, 0].mean()) == ras_sign,
               "%s NV surface at RAS x %.1f" % (side, points[:, 0].mean()))
        model = scene.GetNodeByID(results["nodes"]["thickness_models"][side])
        thickness = numpy_support.vtk_to_numpy(
            model.GetPolyData().GetPointData().GetArray(mrml_bridge.THICKNESS_ARRAY))
        _close(np.median(thickness[thickness > 0]), truth["joint_space_mm"], 0.3,
               "%s median thickness (mm) vs joint space" % side)
        results.setdefault("checks", {})[side] = {"nv_dice_percent": float(overlap)}
    asymmetry_truth = 100.0 * abs(
        phantom.truth["left"]["negative_volume_mm3"] - phantom.truth["right"]["negative_volume_mm3"]
    ) / (phantom.truth["left"]["negative_volume_mm3"] + phantom.truth["right"]["negative_volume_mm3"])
    _close(results["asymmetry_percent"]["negative_volume"], asymmetry_truth, 2.0,
           "NV asymmetry (%) vs truth")
    table = scene.GetNodeByID(results["nodes"]["table"]).GetTable()
    _close(table.GetColumnByName("Left").GetValue(0), results["left"]["negative_volume_mm3"],
           1e-9, "table left NV")
    _check(scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1, "the re-run added a table")
    results["checks"]["nv_asymmetry_truth_percent"] = asymmetry_truth
    return results


def check_existing_segments_on_their_own_grid(scene):
    """Segments on a finer grid than their CT (as a run writes them: 0.3 mm over a 0.5 mm CT) are
    measured on their own grid, the CT resampled there: each side's NV within 5 % of the analytic
    sphere phantom's closed-form truth (the same anatomy at either spacing), the NV segment
    written back on the 0.3 mm grid holding the reported volume, and a warning that says so."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    coarse = make_phantom("analytic", seed=5, variant="sphere", condyle_radius_mm=6.5)
    fine = make_phantom("analytic", seed=5, variant="sphere", condyle_radius_mm=6.5,
                        spacing=(0.3, 0.3, 0.3))
    ct_node = mrml_bridge.volume_node_from_image(coarse.ct, scene, "analytic CT 0.5 mm")
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "joints 0.3 mm")
    mrml_bridge.segmentation_from_labels(fine.labels, segmentation_node, values=[1, 2, 3, 4])
    results = MeasurementLogic().measure_existing(ct_node, segmentation_node)
    _check(any("resampled onto the label map's grid (0.3 x 0.3 x 0.3 mm)" in w
               for w in results["warnings"]), "no word of the resampled CT: %s"
           % results["warnings"])
    for side, nv_value in (("left", 5), ("right", 6)):
        truth, got = fine.truth[side]["negative_volume_mm3"], results[side]["negative_volume_mm3"]
        _check(abs(got - truth) <= 0.05 * truth, "%s NV %.1f mm3, truth %.1f" % (side, got, truth))
        segment_id = results["nodes"]["segments"][nv_value]
        _close(_segment_volume_mm3(segmentation_node, segment_id), got, 1e-6,
               "%s NV segment volume (mm3, 0.3 mm voxels) vs reported" % side)
    return results


def _add_slice_views(scene):
    """Three slice nodes with their composite nodes, as Slicer's Red / Yellow / Green views."""
    views = []
    for name in ("Red", "Yellow", "Green"):
        slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode")
        slice_node.SetLayoutName(name)
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
        views.append((slice_node, composite))
    return views


def check_show_results(scene):
    """show_results: CT behind every slice view, each view centred on the first measured joint
    (RAS of the report's LPS centre, converted by hand) and zoomed to 80 mm."""
    from NegativeVolumeSegmentationLib.scene.logic import show_results

    views = _add_slice_views(scene)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    slicer.util.updateVolumeFromArray(volume, np.zeros((4, 5, 6), np.int16))
    results = {"left": None, "right": {"condyle_center_lps_mm": [-50.0, 2.0, 6.0]},
               "joint_centers_ras_mm": {"left": None, "right": [50.0, -2.0, 6.0]}}
    shown = show_results(results, volume, scene=scene)
    _check(shown == "right", "side shown %r, expected right (left not measured)" % shown)
    for slice_node, composite in views:
        _check(composite.GetBackgroundVolumeID() == volume.GetID(),
               "%s view background %r" % (composite.GetLayoutName(),
                                          composite.GetBackgroundVolumeID()))
        matrix = slice_node.GetSliceToRAS()
        _close([matrix.GetElement(r, 3) for r in range(3)], [50.0, -2.0, 6.0], 1e-9,
               "%s view centre (RAS)" % slice_node.GetLayoutName())
        _close(min(slice_node.GetFieldOfView()[:2]), 80.0, 1e-9, "field of view (mm)")
    _check(show_results({"left": None, "right": None, "joint_centers_ras_mm": {}}, volume,
                        scene=scene) is None, "nothing measured: no side to show")


def check_background_measure_existing(scene, python_executable=None):
    """Measuring existing segments in the background (``nvseg negative-volume`` in a separate
    process, paper mode) gives the in-process numbers and the same NV voxels, loaded through
    the same writer; the temporary folder is removed."""
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    phantom = make_phantom("analytic", seed=4, variant="sphere", condyle_radius_mm=6.0)
    ct_node = mrml_bridge.volume_node_from_image(phantom.ct, scene, "analytic CT")
    in_process = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "in-process")
    background = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "background")
    for node in (in_process, background):
        mrml_bridge.segmentation_from_labels(phantom.labels, node, values=[1, 2, 3, 4])
    reference = MeasurementLogic().measure_existing(ct_node, in_process,
                                                                   mode="paper")
    run = BackgroundRun(ct_node, background, python_executable=python_executable,
                        segment=False, mode="paper").start()
    temp_dir = run.temp_dir
    _check(temp_dir is not None and os.path.isdir(temp_dir), "no temporary folder while running")
    results = run.wait(timeout_s=300)
    _check(run.state == "finished", "state %s (%s)" % (run.state, run.error))
    _check(not os.path.exists(temp_dir), "temporary folder %s left behind" % temp_dir)
    _same_numbers(results, reference, "background vs in-process (paper mode)")
    _check(results["parameters"]["mode"] == "paper", "mode %r" % results["parameters"])
    counts, expected = _segment_counts(background), _segment_counts(in_process)
    _check(counts == expected, "segment voxels: background %s, in-process %s" % (counts, expected))
    _check(set(results["nodes"]["segments"]) == {5, 6}, "measuring existing segments wrote %s"
           % sorted(results["nodes"]["segments"]))
    for side in ("left", "right"):
        truth = phantom.truth[side]["negative_volume_mm3"]
        measured = results[side]["negative_volume_mm3"]
        # paper mode counts every ray to the maximum distance inside the cube: never less
        # than the phantom's joint space (its truth is the confined region)
        _check(measured > 0.95 * truth, "%s paper NV %.1f mm3 below the joint space %.1f mm3"
               % (side, measured, truth))
    return results
