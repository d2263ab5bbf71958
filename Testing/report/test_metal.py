"""The gate's metal check (metal.py) on joints built by hand, whose answer is known from where the
metal was put: a box condyle (16 x 8 x 15 mm, top at z = 0), its joint space (the 2 mm between
its top and a temporal-bone plate) and the plate, labelled on a 0.5 mm grid; the CT on a 1 mm
grid shifted by a quarter voxel (the engine's label grid is finer than the CT's), bone 1500 HU,
metal cubes at 3071 HU (a 12-bit scale's top). Then the gate through pipeline.measure_labels
with the CT; the real head with a metal condyle is in Testing/inference/test_pipeline_real_head.py.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib import metal, pipeline

from box_joints import _box
from box_joints import coordinates as _coordinates
from box_joints import grid_at as _grid

SIDE = L.LEFT
CENTRE = (0.0, 0.0, -7.5)     # the box condyle's centre (LPS mm)


CONDYLE_BOX = ((-8, -4, -15), (8, 4, 0))
JOINT_BOX = ((-8, -4, 0), (8, 4, 2))
PLATE_BOX = ((-12, -8, 2), (12, 8, 4))


def _labels():
    grid = _grid(0.5)
    x, y, z = _coordinates(grid)
    array = np.zeros(grid.GetSize()[::-1], np.uint8)
    array[_box(x, y, z, *CONDYLE_BOX)] = L.CONDYLE[SIDE]
    array[_box(x, y, z, *JOINT_BOX)] = L.NEGATIVE_VOLUME[SIDE]
    array[_box(x, y, z, *PLATE_BOX)] = L.TEMPORAL_BONE[SIDE]
    return array, grid


def _ct(metal_boxes=(), bone_hu=1500.0, spacing=1.0, offset=0.25, metal_hu=3071.0):
    grid = _grid(spacing, offset=offset)
    x, y, z = _coordinates(grid)
    hu = np.full(grid.GetSize()[::-1], 40.0, np.float32)
    for lo, hi in (CONDYLE_BOX, PLATE_BOX):
        hu[_box(x, y, z, lo, hi)] = bone_hu
    for lo, hi in metal_boxes:
        hu[_box(x, y, z, lo, hi)] = metal_hu
    ct = sitk.GetImageFromArray(hu)
    ct.CopyInformation(grid)
    return ct


def _check(metal_boxes=(), **ct_options):
    array, grid = _labels()
    return metal.check_metal(_ct(metal_boxes, **ct_options), array, grid, SIDE, CENTRE)


def test_no_metal_no_word():
    assert _check() == ([], [])
    assert metal.check_metal(None, *_labels(), SIDE, CENTRE) == ([], [])


def test_dense_bone_is_not_metal():
    """The real head's densest bone within 30 mm of its joints reads 2233 HU: a condyle and
    fossa at 2700 HU are still bone."""
    assert _check(bone_hu=2700.0) == ([], [])


def test_bone_brighter_than_a_ct_s_is_not_metal():
    """Grey values of a CBCT may put bone above 2800: the real head with its bone's HU above 100
    scaled by 1.75 (cortex up to 3830) was called "metal in the joint" on both sides while it
    measured within 1.5 %. Metal must also be 1.7 times the side's temporal bone's 90th
    percentile: bone at 3200 is bone, a 12-bit scale's 3071 is not metal there, 6000 is."""
    assert _check(bone_hu=3200.0) == ([], [])
    head = [((-1.5, -1.5, -3.0), (1.5, 1.5, 0.0))]
    assert _check(head, bone_hu=3200.0) == ([], [])
    reasons, cautions = _check(head, bone_hu=3200.0, metal_hu=6000.0)
    assert cautions == [] and "27 mm3 in the condylar head at 5440 HU or more" in reasons[0]


def test_metal_saturating_a_12_bit_scale_over_dense_bone_is_found():
    """Dense bone (1900 HU: the limit 1.7 x 1900 = 3230 HU) on a 12-bit scale, where metal reads
    its top, 3071 HU: a metal head there was missed (the real head's bone x 1.25 with a metal
    condyle read NV -3 %, condyle -23 %, no word). The scale's top is metal when the densest bone
    (1.45 x its 90th percentile, 2755 HU) stays under it; bone that reaches it (2200 HU: 3190)
    cannot be told from metal by its value and is not called metal."""
    head = [((-1.5, -1.5, -3.0), (1.5, 1.5, 0.0))]
    reasons, cautions = _check(head, bone_hu=1900.0)
    assert cautions == [] and "27 mm3 in the condylar head at 3071 HU or more" in reasons[0]
    assert _check(bone_hu=1900.0) == ([], [])
    assert _check(head, bone_hu=2200.0) == ([], [])


def test_metal_in_the_condylar_head_is_not_measurable():
    """A 3 x 3 x 3 mm cube (27 CT voxels) in the head's top: a prosthetic head, not bone."""
    reasons, cautions = _check([((-1.5, -1.5, -3.0), (1.5, 1.5, 0.0))])
    assert cautions == [] and len(reasons) == 1
    assert "metal in the joint (27 mm3 in the condylar head" in reasons[0]


def test_metal_in_the_bone_facing_the_joint_is_not_measurable():
    """A 4 x 4 x 2 mm piece of the plate right over the joint space (a metal-backed fossa): 32
    CT voxels in two layers, the lower one (16) within 1.5 mm of the joint space."""
    reasons, cautions = _check([((-2.0, -2.0, 2.0), (2.0, 2.0, 4.0))])
    assert cautions == [] and len(reasons) == 1
    assert "(16 mm3 in the temporal bone facing the joint" in reasons[0]


def test_metal_on_the_neck_or_beside_the_joint_cautions():
    """A screw-sized cube in the condyle's neck 11-14 mm below its top (inside the condyle's
    label, outside its head): the numbers stay, the caution says where; the plate's far corner,
    4 mm from the joint space: a caution too."""
    reasons, cautions = _check([((-1.5, -1.5, -14.0), (1.5, 1.5, -11.0))])
    assert reasons == [] and len(cautions) == 1
    assert "27 mm3 inside the condyle's neck" in cautions[0]
    reasons, cautions = _check([((9.0, 5.0, 2.0), (12.0, 8.0, 4.0))])
    assert reasons == [] and len(cautions) == 1
    assert "18 mm3 at 2800 HU or more;" in cautions[0] and "neck" not in cautions[0]


@pytest.mark.parametrize("box", [
    ((24.0, -2.0, -10.0), (27.0, 1.0, -7.0)),   # 24 mm from the condyle's centre
    ((-1.0, -1.0, -1.0), (1.0, 1.0, 0.0)),      # 4 mm3 in the head: a few bright voxels
])
def test_far_or_tiny_metal_is_ignored(box):
    assert _check([box]) == ([], [])


def test_the_gate_withholds_a_joint_with_a_metal_head():
    """Through pipeline.measure_labels with the CT: the left condyle's head holds a metal cube,
    the right joint (the same boxes mirrored 60 mm away) none. Left not measurable with the
    reason, no asymmetry; right measured, with a caution: a metal joint's streaks run across the
    whole slice (the real head with a metal left condyle read the right NV 2.0 % low)."""
    wide = _grid(0.5, size_mm=(140.0, 40.0, 44.0))
    x, y, z = _coordinates(wide)
    both = np.zeros(wide.GetSize()[::-1], np.uint8)
    for side, cx in ((L.LEFT, 35.0), (L.RIGHT, -35.0)):
        both[_box(x - cx, y, z, *CONDYLE_BOX)] = L.CONDYLE[side]
        both[_box(x - cx, y, z, *PLATE_BOX)] = L.TEMPORAL_BONE[side]
    hu = np.where(both > 0, 1500.0, 40.0).astype(np.float32)
    hu[_box(x - 35.0, y, z, (-2.0, -2.0, -4.0), (2.0, 2.0, 0.0))] = 3071.0
    hu[np.broadcast_to(z > 12, hu.shape)] = -1000.0
    labels, ct = sitk.GetImageFromArray(both), sitk.GetImageFromArray(hu)
    labels.CopyInformation(wide)
    ct.CopyInformation(wide)
    rep = pipeline.measure_labels(labels, ct=ct).report
    assert rep["left"] is None
    assert rep["quality"]["left"]["reason"].startswith("metal in the joint (64 mm3 in the "
                                                       "condylar head")
    assert rep["right"]["measurable"] is True and rep["right"]["negative_volume_mm3"] > 0
    assert rep["asymmetry_percent"]["negative_volume"] is None
    assert [c for c in rep["cautions"] if "metal" in c] == [
        "right side: metal in the left joint: its streaks cross this joint's slices (the real "
        "head with a metal left condyle read the right NV 2 % low)"]
    assert pipeline.measure_labels(labels).report["left"]["measurable"] is True  # no CT: no check
