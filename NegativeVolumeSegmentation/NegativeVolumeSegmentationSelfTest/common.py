"""Shared helpers of the self-test checks: the interface contract written out, assertions that
say what was measured and what was expected, test geometry (oblique grids, ball label maps) and
segment / node counting.

Points are LPS mm in the library and RAS mm in MRML (RAS = (-x, -y, z) of LPS).
"""

import math

import numpy as np
import SimpleITK as sitk
import slicer
from vtk.util import numpy_support

# docs/interfaces.md, "Label values": value -> (segment name, colour). Written out here on purpose:
# the contract document is the truth, not labels.py.
INTERFACE_SEGMENTS = {
    1: ("Left mandibular condyle", (0.90, 0.85, 0.55)),
    2: ("Right mandibular condyle", (0.90, 0.70, 0.40)),
    3: ("Left temporal bone", (0.55, 0.70, 0.90)),
    4: ("Right temporal bone", (0.40, 0.55, 0.85)),
    5: ("Left negative volume", (0.30, 0.85, 0.35)),
    6: ("Right negative volume", (0.95, 0.35, 0.30)),
}


def _close(measured, expected, tolerance, what):
    measured = np.asarray(measured, float)
    expected = np.asarray(expected, float)
    if measured.shape != expected.shape or not np.allclose(measured, expected, rtol=0,
                                                           atol=tolerance):
        raise AssertionError("%s: measured %s, expected %s (tolerance %g)"
                             % (what, measured.tolist(), expected.tolist(), tolerance))


def _check(condition, message):
    if not condition:
        raise AssertionError(message)


def oblique_direction():
    """LPS direction cosines (columns = i, j, k axes): 30 deg about z after 45 deg about x."""
    c30, s30 = math.sqrt(3.0) / 2.0, 0.5
    c45 = s45 = math.sqrt(0.5)
    rz = np.array([[c30, -s30, 0.0], [s30, c30, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, c45, -s45], [0.0, s45, c45]])
    return rz @ rx


def ball_label_image(direction=None, balls=None):
    """Label image (LPS) with one ball per label value; returns (image, centres, radii).

    ``balls``: {value: (centre LPS mm, radius mm)}; default: six balls of radius 2.5-4 mm around
    the grid centre, left structures (1, 3, 5) at +x.
    """
    spacing, size = np.array([0.5, 0.6, 0.55]), np.array([80, 60, 50])
    direction = oblique_direction() if direction is None else np.asarray(direction, float)
    origin = np.array([-20.0, -15.0, -12.0])
    if balls is None:
        middle = origin + direction @ (spacing * (size - 1) / 2.0)
        offsets = {1: (6, 0, -4), 2: (-6, 0, -4), 3: (6, 0, 5), 4: (-6, 0, 5), 5: (12, 5, 0),
                   6: (-12, 5, 0)}
        radii = {1: 4.0, 2: 3.5, 3: 3.0, 4: 3.2, 5: 2.5, 6: 2.8}
        balls = {v: (middle + np.array(offsets[v], float), radii[v]) for v in offsets}
    # Voxel-centre positions (LPS mm) of the whole grid, by ITK's definition.
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    points = origin + (np.stack([i, j, k], axis=-1) * spacing) @ direction.T
    array = np.zeros(size[::-1], np.uint8)
    for value, (centre, radius) in balls.items():
        array[np.linalg.norm(points - np.asarray(centre), axis=-1) <= radius] = value
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(origin.tolist())
    image.SetDirection(direction.ravel().tolist())
    return (image, {v: np.asarray(b[0], float) for v, b in balls.items()},
            {v: b[1] for v, b in balls.items()})


def _segment_voxel_count(segmentation_node, segment_id):
    """Voxels of one segment in its (possibly shared) binary labelmap layer."""
    oriented = slicer.vtkOrientedImageData()
    slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
        segmentation_node, segment_id, oriented)
    values = numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars())
    label = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    return int(np.count_nonzero(values == label))


def _segment_volume_mm3(segmentation_node, segment_id):
    """Voxels of one segment times the voxel volume (mm^3) of its own binary labelmap: a
    segmentation carries its own geometry (the engine's 0.3 mm measurement grid for a CT
    coarser than that, docs/interfaces.md)."""
    oriented = slicer.vtkOrientedImageData()
    slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
        segmentation_node, segment_id, oriented)
    values = numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars())
    label = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    return int(np.count_nonzero(values == label)) * float(np.prod(oriented.GetSpacing()))


def _node_count(scene):
    return scene.GetNumberOfNodes()


def _segment_counts(segmentation_node):
    """{segment name: voxel count} of every segment."""
    segmentation = segmentation_node.GetSegmentation()
    return dict((segmentation.GetNthSegment(i).GetName(),
                 _segment_voxel_count(segmentation_node, segmentation.GetNthSegmentID(i)))
                for i in range(segmentation.GetNumberOfSegments()))


def _same_numbers(measured, reference, what, rtol=1e-6):
    """Both runs' report numbers (per side and asymmetry) agree to ``rtol``."""
    keys = ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
            "joint_space_mean_mm")
    for side in ("left", "right"):
        a, b = measured.get(side), reference.get(side)
        _check((a is None) == (b is None), "%s %s: measured %s, reference %s" % (what, side, a, b))
        if a is None:
            continue
        for key in keys + ("condyle_center_lps_mm",):
            if a.get(key) is None or b.get(key) is None:
                _check(a.get(key) is None and b.get(key) is None,
                       "%s %s %s: %s vs %s" % (what, side, key, a.get(key), b.get(key)))
                continue
            _close(a[key], b[key], rtol * max(1.0, float(np.max(np.abs(b[key])))),
                   "%s %s %s" % (what, side, key))
    for key in ("negative_volume", "condyle_volume"):
        a = (measured.get("asymmetry_percent") or {}).get(key)
        b = (reference.get("asymmetry_percent") or {}).get(key)
        _check((a is None) == (b is None), "%s asymmetry %s: %s vs %s" % (what, key, a, b))
        if a is not None:
            _close(a, b, rtol * max(1.0, abs(b)), "%s asymmetry %s" % (what, key))
