"""Measuring on the labelled part of a grid (engine/labelled_region.py), checked against boxes
built by hand and against the same label map without the empty space around it.

The memory of `nvseg run` (benchmarks/bench_memory.py) rests on these: the NV engine and the
quality gate crop to the labels grown by the rays' reach and paste the result back; the answer
must not change when the same labels sit in a much larger empty grid.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.engine.labelled_region import (box_around, crop, label_boxes,
                                                                  label_voxels, labelled_box,
                                                                  part_around, paste,
                                                                  working_margin_mm)
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume


def _image(array, spacing=(0.5, 0.5, 0.5)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, -5.0, 3.0))
    return image


def test_box_of_the_labels_grown_and_clipped():
    array = np.zeros((40, 50, 60), np.uint8)
    array[10:12, 20:25, 30:33] = 3               # z 10-11, y 20-24, x 30-32
    lo, hi = labelled_box(_image(array), 1.0)    # 1 mm = 2 voxels, plus 1 voxel
    assert lo.tolist() == [27, 17, 7] and hi.tolist() == [36, 28, 15]
    array[0, 0, 0] = 1                           # at the corner: clipped to the grid
    lo, hi = labelled_box(_image(array), 1.0)
    assert lo.tolist() == [0, 0, 0] and hi.tolist() == [36, 28, 15]
    assert labelled_box(_image(np.zeros((5, 5, 5), np.uint8)), 1.0) is None


def test_box_around_voxels_grows_by_whole_voxels_per_axis():
    array = np.zeros((20, 30, 40), np.uint8)
    image = _image(array, spacing=(0.5, 0.8, 2.0))
    kji = (np.array([10, 12]), np.array([5, 9]), np.array([30, 38]))    # z, y, x
    i0, i1 = box_around(image, kji, 1.2)   # 1.2 mm: x 3 voxels, y 2 (1.5 rounded up), z 1
    assert i0.tolist() == [27, 3, 9] and i1.tolist() == [40, 12, 14]    # x clipped at 40
    part = crop(image, i0, i1)
    assert part.GetSize() == (13, 9, 5)
    assert part.GetOrigin() == pytest.approx((10.0 + 27 * 0.5, -5.0 + 3 * 0.8, 3.0 + 9 * 2.0))


def test_negative_values_are_inside_the_box():
    array = np.zeros((20, 20, 20), np.float32)
    array[5, 6, 7] = -1.0                        # found, so the label check can refuse it
    lo, hi = labelled_box(_image(array), 0.0)
    assert lo.tolist() == [6, 5, 4] and hi.tolist() == [9, 8, 7]


def test_voxels_of_each_label_found_inside_its_box():
    rng = np.random.default_rng(5)
    array = np.zeros((30, 40, 50), np.uint8)
    array[3:9, 10:30, 20:22] = rng.integers(0, 3, (6, 20, 2))   # labels 1 and 2, scattered
    array[25, 39, 49] = 4                                       # a lone voxel in the corner
    boxes = label_boxes(array)
    assert sorted(boxes) == [1, 2, 4] and boxes[4] == (slice(25, 26), slice(39, 40), slice(49, 50))
    for value in (1, 2, 3, 4):
        found = label_voxels(array, value, boxes)
        assert all(np.array_equal(a, b) for a, b in zip(found, np.nonzero(array == value)))


def test_part_around_a_box_keeps_its_physical_place():
    array = np.zeros((20, 30, 40), np.uint8)
    array[5:7, 10:12, 36:40] = 1                         # touches the grid's last x index
    image = _image(array)                                 # 0.5 mm, origin (10, -5, 3)
    part, crop = part_around(array, image, label_boxes(array)[1], 1.0)   # 2 voxels + 1
    assert part.shape == (8, 8, 7)                        # z 2-9, y 7-14, x 33-39 (clipped)
    assert np.array_equal(part, array[2:10, 7:15, 33:40])
    assert crop.GetSize() == (7, 8, 8)
    assert crop.GetOrigin() == pytest.approx((10.0 + 33 * 0.5, -5.0 + 7 * 0.5, 3.0 + 2 * 0.5))
    assert part_around(array, image, None, 1.0)[0] is array


def test_paste_puts_the_part_at_its_box():
    reference = _image(np.zeros((30, 30, 30), np.uint8))
    part = sitk.GetImageFromArray(np.full((4, 3, 2), 5, np.uint8))
    out = paste(reference, part, (np.array([10, 11, 12]), np.array([12, 14, 16])))
    arr = sitk.GetArrayViewFromImage(out)
    assert out.GetOrigin() == reference.GetOrigin() and out.GetSize() == reference.GetSize()
    assert np.all(arr[12:16, 11:14, 10:12] == 5) and int(arr.sum()) == 5 * 24


def test_margin_is_the_rays_reach():
    assert working_margin_mm(10.0, "confined", 30.0) == pytest.approx(13.0)
    assert working_margin_mm(10.0, "paper", 30.0) == pytest.approx(18.0)


def test_same_nv_when_the_labels_sit_in_a_larger_empty_grid(cbct_joint_phantom):
    side, ph = cbct_joint_phantom(3)   # the right joint, 0.5 mm (conftest.py)
    assert side == "right"
    tight = ph.labels
    pad = [40, 30, 20]                           # voxels added on every side (x, y, z)
    big = sitk.ConstantPad(tight, pad, pad, 0)   # same physical positions, origin moved
    assert np.allclose(big.TransformIndexToPhysicalPoint(pad), tight.GetOrigin())
    a = measure_negative_volume(tight)
    b = measure_negative_volume(big)
    va, vb = a.sides["right"], b.sides["right"]
    for key in ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm"):
        assert vb[key] == pytest.approx(va[key], rel=1e-9), key
    assert np.allclose(vb["condyle_center_lps_mm"], va["condyle_center_lps_mm"], atol=1e-9)
    arr_b = sitk.GetArrayViewFromImage(b.labels)
    inner = arr_b[pad[2]:-pad[2], pad[1]:-pad[1], pad[0]:-pad[0]]
    assert b.labels.GetSize() == big.GetSize()
    assert np.array_equal(inner, sitk.GetArrayViewFromImage(a.labels))
    assert int(np.count_nonzero(arr_b)) == int(np.count_nonzero(inner))
