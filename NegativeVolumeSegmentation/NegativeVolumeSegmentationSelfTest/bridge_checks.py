"""Checks of the MRML bridge (scene/mrml_bridge.py) on a real scene: image geometry both ways,
label maps to named, coloured segments and back, the patient's sides on flipped grids, linear
transforms, the results table and the thickness-coloured model. No torch needed.
"""

import math

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from NegativeVolumeSegmentationLib.scene import mrml_bridge

from .common import (INTERFACE_SEGMENTS, _check, _close, _segment_voxel_count,
                     ball_label_image, oblique_direction)

def check_volume_geometry_roundtrip(scene):
    """Oblique, anisotropic int16 volume -> node -> image: voxel corners at the same mm."""
    size = (7, 5, 4)  # i, j, k
    spacing = (0.4, 0.7, 1.3)
    origin_lps = (10.0, -20.0, 30.0)
    direction = oblique_direction()
    array = (np.arange(size[0] * size[1] * size[2]).reshape(size[::-1]) * 7 - 300).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin_lps)
    image.SetDirection(direction.ravel().tolist())
    node = mrml_bridge.volume_node_from_image(image, scene, "oblique")
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    for corner in [(i, j, k) for i in (0, size[0] - 1) for j in (0, size[1] - 1)
                   for k in (0, size[2] - 1)]:
        # ITK's definition, by hand: p = origin + D diag(spacing) index (LPS mm).
        lps = np.array(origin_lps) + direction @ (np.array(spacing) * np.array(corner))
        ras = ijk_to_ras.MultiplyPoint(list(corner) + [1.0])[:3]
        _close(ras, [-lps[0], -lps[1], lps[2]], 1e-9, "RAS of voxel %s" % (corner,))
    back = mrml_bridge.image_from_volume_node(node)
    _close(back.GetOrigin(), origin_lps, 1e-12, "origin after round trip")
    _close(back.GetSpacing(), spacing, 1e-12, "spacing after round trip")
    _close(back.GetDirection(), direction.ravel(), 1e-12, "direction after round trip")
    _check(back.GetPixelID() == sitk.sitkInt16, "voxel type changed to %s"
           % back.GetPixelIDTypeAsString())
    _check(np.array_equal(sitk.GetArrayFromImage(back), array), "voxel values changed")
    # Under a linear parent transform (shift 5 mm to the patient's right = +5 RAS x) the
    # world geometry moves: LPS x decreases by 5.
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 5.0)
    transform.SetMatrixTransformToParent(shift)
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = mrml_bridge.image_from_volume_node(node)
    _close(moved.GetOrigin(), (origin_lps[0] - 5.0, origin_lps[1], origin_lps[2]), 1e-9,
           "origin under a 5 mm transform")
    _close(moved.GetDirection(), direction.ravel(), 1e-12, "direction under a translation")


def check_label_segments(scene):
    """Label map -> segmentation: six named, coloured segments, voxel counts, closed surfaces."""
    image, centres, radii = ball_label_image()
    array = sitk.GetArrayFromImage(image)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "balls")
    written = mrml_bridge.segmentation_from_labels(image, segmentation_node)
    segmentation = segmentation_node.GetSegmentation()
    _check(sorted(written) == [1, 2, 3, 4, 5, 6], "segments written for %s" % sorted(written))
    _check(segmentation.GetNumberOfSegments() == 6,
           "%d segments, expected 6" % segmentation.GetNumberOfSegments())
    voxel_volume = float(np.prod(image.GetSpacing()))
    for value, (name, colour) in INTERFACE_SEGMENTS.items():
        segment = segmentation.GetSegment(written[value])
        _check(segment.GetName() == name, "segment %d named %r, expected %r"
               % (value, segment.GetName(), name))
        _close(segment.GetColor(), colour, 1e-6, "colour of %s" % name)
        count = _segment_voxel_count(segmentation_node, written[value])
        _check(count == int(np.count_nonzero(array == value)),
               "%s: %d voxels, label map has %d" % (name, count, np.count_nonzero(array == value)))
        ball = 4.0 / 3.0 * math.pi * radii[value] ** 3
        _check(abs(count * voxel_volume - ball) < 0.1 * ball,
               "%s: %.1f mm3 of voxels, ball is %.1f mm3" % (name, count * voxel_volume, ball))
    mrml_bridge.create_closed_surfaces(segmentation_node)
    for value, (name, _colour) in INTERFACE_SEGMENTS.items():
        surface = vtk.vtkPolyData()
        segmentation_node.GetClosedSurfaceRepresentation(written[value], surface)
        _check(surface.GetNumberOfPoints() > 50, "%s: closed surface has %d points"
               % (name, surface.GetNumberOfPoints()))
        points = numpy_support.vtk_to_numpy(surface.GetPoints().GetData())
        centre_ras = centres[value] * np.array([-1.0, -1.0, 1.0])
        _close(points.mean(axis=0), centre_ras, 0.3, "%s surface centre (RAS)" % name)
        distance = np.linalg.norm(points - centre_ras, axis=1)
        _close(np.median(distance), radii[value], 0.45, "%s surface radius" % name)
    back, found = mrml_bridge.labels_from_segmentation(segmentation_node)
    _check(sorted(found) == [1, 2, 3, 4, 5, 6], "segments found by name: %s" % sorted(found))
    _check(np.array_equal(sitk.GetArrayFromImage(back), array),
           "label map -> segmentation -> label map changed %d voxels"
           % np.count_nonzero(sitk.GetArrayFromImage(back) != array))
    _close(back.GetOrigin(), image.GetOrigin(), 1e-9, "exported origin")
    _close(back.GetDirection(), image.GetDirection(), 1e-9, "exported direction")


def check_left_stays_left(scene):
    """A label map volume whose IJK->RAS is rotated and flipped keeps the patient's sides.

    The node is made in MRML directly: i runs anterior, j toward the patient's left (RAS -x),
    k inferior (a left-handed IJK); voxel j = 50 lies at RAS x = -20 (left), j = 10 at +20.
    """
    size = (30, 60, 20)
    array = np.zeros(size[::-1], np.uint8)
    array[8:12, 48:53, 13:17] = 1  # left condyle at j ~ 50
    array[8:12, 8:13, 13:17] = 2   # right condyle at j ~ 10
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "flipped")
    slicer.util.updateVolumeFromArray(node, array)
    directions = vtk.vtkMatrix4x4()
    for row, column, value in ((0, 0, 0.0), (1, 0, 1.0), (0, 1, -1.0), (1, 1, 0.0), (2, 2, -1.0)):
        directions.SetElement(row, column, value)
    node.SetIJKToRASDirectionMatrix(directions)
    node.SetSpacing(1.0, 1.0, 1.0)
    node.SetOrigin(30.0, -15.0, -10.0)
    image = mrml_bridge.image_from_volume_node(node)
    for value, lps_x in ((1, 20.0), (2, -20.0)):
        k, j, i = np.nonzero(sitk.GetArrayFromImage(image) == value)
        centre = image.TransformContinuousIndexToPhysicalPoint(
            [float(i.mean()), float(j.mean()), float(k.mean())])
        _close(centre[0], lps_x, 1e-9, "LPS x of label %d" % value)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "sides")
    written = mrml_bridge.segmentation_from_labels(image, segmentation_node)
    mrml_bridge.create_closed_surfaces(segmentation_node)
    for value, ras_x in ((1, -20.0), (2, 20.0)):
        surface = vtk.vtkPolyData()
        segmentation_node.GetClosedSurfaceRepresentation(written[value], surface)
        points = numpy_support.vtk_to_numpy(surface.GetPoints().GetData())
        _close(points[:, 0].mean(), ras_x, 0.3, "RAS x of %s surface"
               % INTERFACE_SEGMENTS[value][0])
    back, _found = mrml_bridge.labels_from_segmentation(segmentation_node, node)
    _check(np.array_equal(sitk.GetArrayFromImage(back), array),
           "labels on the flipped reference grid moved")


def check_results_table(scene):
    """Results dict -> table node: rows per measurement, Left / Right, NaN for a missing side."""
    results = {
        "left": {"negative_volume_mm3": 123.5, "condyle_volume_mm3": 680.0,
                 "joint_space_min_mm": 1.25, "joint_space_mean_mm": 2.5,
                 "condyle_center_lps_mm": [50.0, 0.0, 0.0]},
        "right": {"negative_volume_mm3": 100.5, "condyle_volume_mm3": 700.0,
                  "joint_space_min_mm": 1.0, "joint_space_mean_mm": None,
                  "condyle_center_lps_mm": [-50.0, 0.0, 0.0]},
        # 100 |123.5 - 100.5| / 224 and 100 |680 - 700| / 1380, by hand.
        "asymmetry_percent": {"negative_volume": 10.267857142857142,
                              "condyle_volume": 1.4492753623188406},
    }
    table = mrml_bridge.table_node_from_results(results, scene).GetTable()
    _check(table.GetNumberOfRows() == 4, "%d rows, expected 4" % table.GetNumberOfRows())
    expected = {
        "Negative volume (joint space)": (123.5, 100.5, 10.267857142857142),
        "Condyle volume": (680.0, 700.0, 1.4492753623188406),
        "Joint space, minimum": (1.25, 1.0, float("nan")),
        "Joint space, mean": (2.5, float("nan"), float("nan")),
    }
    names = [table.GetColumnByName("Measurement").GetValue(r) for r in range(4)]
    _check(names == list(expected), "rows %s" % names)
    for row, name in enumerate(names):
        measured = [table.GetColumnByName(c).GetValue(row)
                    for c in ("Left", "Right", "Asymmetry (%)")]
        _check(np.allclose(measured, expected[name], equal_nan=True),
               "%s: %s, expected %s" % (name, measured, expected[name]))
    single = mrml_bridge.table_node_from_results(
        {"left": None, "right": results["right"], "asymmetry_percent": None}, scene).GetTable()
    _check(math.isnan(single.GetColumnByName("Left").GetValue(0)),
           "a missing left side must show NaN")


def sphere_with_thickness(centre_lps, radius):
    """LPS sphere mesh with outward normals and thickness = max(z - z_centre, 0) mm per point."""
    source = vtk.vtkSphereSource()
    source.SetCenter(*centre_lps)
    source.SetRadius(radius)
    source.SetThetaResolution(24)
    source.SetPhiResolution(16)
    source.Update()
    polydata = source.GetOutput()
    points = numpy_support.vtk_to_numpy(polydata.GetPoints().GetData())
    values = np.maximum(points[:, 2] - centre_lps[2], 0.0)
    array = numpy_support.numpy_to_vtk(values, deep=True)
    array.SetName(mrml_bridge.THICKNESS_ARRAY)
    polydata.GetPointData().AddArray(array)
    return polydata, points.copy(), values


def check_thickness_model(scene):
    """LPS thickness mesh -> model node: points in RAS, same values, scalar colouring active."""
    centre = np.array([40.0, 10.0, 5.0])
    polydata, points_lps, values = sphere_with_thickness(centre, 6.0)
    node = mrml_bridge.model_node_from_polydata(polydata, scene, "thickness")
    model = node.GetPolyData()
    points_ras = numpy_support.vtk_to_numpy(model.GetPoints().GetData())
    _close(points_ras, points_lps * np.array([-1.0, -1.0, 1.0]), 1e-6, "model points in RAS")
    stored = numpy_support.vtk_to_numpy(model.GetPointData().GetArray(mrml_bridge.THICKNESS_ARRAY))
    _close(stored, values, 1e-12, "thickness values")
    normals = numpy_support.vtk_to_numpy(model.GetPointData().GetNormals())
    centre_ras = centre * np.array([-1.0, -1.0, 1.0])
    outward = np.einsum("ij,ij->i", points_ras - centre_ras, normals)
    _check(np.all(outward > 0), "%d normals point inward in RAS" % np.count_nonzero(outward <= 0))
    display = node.GetDisplayNode()
    _check(display.GetActiveScalarName() == mrml_bridge.THICKNESS_ARRAY,
           "active scalar %r" % display.GetActiveScalarName())
    _check(bool(display.GetScalarVisibility()), "scalar colouring is off")
    colour = display.GetColorNode().GetColorTransferFunction()
    _close(colour.GetColor(0.0), (0.6, 0.6, 0.6), 1e-6, "colour of 0 mm (no contact)")
    _close(colour.GetColor(5.0), (0.15, 0.35, 0.9), 1e-6, "colour of 5 mm")


def _translation(scene, name, ras_mm, degrees_about_z=0.0):
    """Linear transform node: rotation about RAS z (degrees), then a shift (RAS mm)."""
    transform = vtk.vtkTransform()
    transform.Translate(*ras_mm)
    transform.RotateZ(degrees_about_z)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(transform.GetMatrix())
    return node


def check_transformed_nodes(scene):
    """Segments and CT under different linear transforms: the labels stay at their world mm.

    A ball of label 1 (radius 4 mm) at world LPS (12, -5, 7) is written into a segmentation
    shifted by 4 mm; exported on a CT rotated 10 deg and shifted; its centroid must come out at
    the same world LPS point, and its closed surface (local frame + transform) there too.
    """
    centre_lps = np.array([12.0, -5.0, 7.0])
    labelled, _centres, _radii = ball_label_image(np.eye(3), {1: (centre_lps, 4.0)})
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "shifted")
    segmentation_node.SetAndObserveTransformNodeID(
        _translation(scene, "segmentation shift", (-4.0, 0.0, 1.0)).GetID())
    written = mrml_bridge.segmentation_from_labels(labelled, segmentation_node)
    surface = vtk.vtkPolyData()
    segmentation_node.CreateClosedSurfaceRepresentation()
    segmentation_node.GetClosedSurfaceRepresentation(written[1], surface)
    local = numpy_support.vtk_to_numpy(surface.GetPoints().GetData()).mean(axis=0)
    _close(local + np.array([-4.0, 0.0, 1.0]), centre_lps * np.array([-1.0, -1.0, 1.0]), 0.3,
           "world RAS centre of the surface of a transformed segmentation")
    ct = sitk.Image(labelled.GetSize(), sitk.sitkInt16)
    ct.CopyInformation(labelled)
    ct_node = mrml_bridge.volume_node_from_image(ct, scene, "rotated CT")
    ct_node.SetAndObserveTransformNodeID(
        _translation(scene, "CT motion", (3.0, -2.0, 0.5), 10.0).GetID())
    back, _found = mrml_bridge.labels_from_segmentation(segmentation_node, ct_node)
    k, j, i = np.nonzero(sitk.GetArrayFromImage(back) == 1)
    centroid = back.TransformContinuousIndexToPhysicalPoint(
        [float(i.mean()), float(j.mean()), float(k.mean())])
    _close(centroid, centre_lps, 0.3, "world LPS centroid exported on a moved CT")
    ball = 4.0 / 3.0 * math.pi * 4.0 ** 3
    volume = len(i) * float(np.prod(back.GetSpacing()))
    _check(abs(volume - ball) < 0.1 * ball, "exported ball %.1f mm3, truth %.1f" % (volume, ball))


BRIDGE_CHECKS = (check_volume_geometry_roundtrip, check_label_segments, check_left_stays_left,
                 check_transformed_nodes, check_results_table, check_thickness_model)
