"""The slices' detail read from the image itself (slice_detail.py) and the quality gate's use of it,
on volumes whose slices were made here: a texture of air, soft tissue and bone (blobs of ~2 mm,
alike in every direction) made of slices 2 / 3 / 5 mm thick and resampled back onto its 1 mm grid
(benchmarks/real_ct_probes.py's ``thick_slices``, which makes the real head's probes). Truth: the
thickness that was made. The real head made of 5 mm slices: Testing/inference/test_pipeline_real_head.py.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from NegativeVolumeSegmentationLib import pipeline, quality
from NegativeVolumeSegmentationLib.slice_detail import slice_detail_mm


def _texture(seed=0, n=128, spacing=(1.0, 1.0, 1.0)):
    """int16 HU: smoothed white noise (sigma 1 voxel) cut into air / soft tissue / bone."""
    t = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(n, n, n)), 1.0)
    t /= t.std()
    hu = np.where(t < -1.0, -1000.0, np.where(t > 1.0, 1200.0, 40.0)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing(spacing)
    return image


def test_as_much_detail_across_the_slices_as_within_them_adds_nothing():
    image = _texture()
    assert [slice_detail_mm(image, axis) for axis in range(3)] == [None, None, None]
    blurred = sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32), 1.0)
    assert slice_detail_mm(blurred, 2) is None     # a soft kernel blurs every axis alike
    assert not [c for c in quality.check_scan(image).cautions if c.startswith("slices")]


@pytest.mark.parametrize("thickness", [3, 5])
def test_thick_slices_on_a_fine_grid_read_their_thickness(probes_benchmark, thickness):
    """Measured: 3.6-3.8 / 5.9-6.3 mm over three textures (the real head: 3.0 / 5.1 mm)."""
    for seed in (0, 1):
        made = probes_benchmark.thick_slices(_texture(seed), "slices_%d_linear" % thickness)
        assert 0.85 * thickness <= slice_detail_mm(made, 2) <= 1.3 * thickness
        assert slice_detail_mm(made, 0) is None and slice_detail_mm(made, 1) is None


def test_the_gate_refuses_5_mm_slices_on_a_1_mm_grid_and_cautions_for_2_mm(probes_benchmark):
    five = probes_benchmark.thick_slices(_texture(), "slices_5_linear")
    before = sitk.GetArrayFromImage(five)
    verdict = quality.check_scan(five)
    assert not verdict.measurable
    assert verdict.reason.startswith("slices 1 mm holding the detail of ~")
    assert "(limit 2.5 mm of detail): the 2-3 mm joint space is not resolved" in verdict.reason
    assert np.array_equal(sitk.GetArrayFromImage(five), before)   # the input is not modified
    two = quality.check_scan(probes_benchmark.thick_slices(_texture(), "slices_2_linear"))
    assert two.measurable     # native 2 mm slices are measured (with a caution): so are these
    assert any(c.startswith("slices 1 mm holding the detail of ~2") for c in two.cautions)


def test_pixels_coarser_than_the_slices_are_no_reference():
    assert slice_detail_mm(_texture(spacing=(2.0, 2.0, 1.0)), 2) is None


def test_a_label_map_with_its_ct_is_refused_for_the_ct_s_slices(probes_benchmark):
    five = probes_benchmark.thick_slices(_texture(), "slices_5_linear")
    labels = sitk.Image(five.GetSize(), sitk.sitkUInt8)
    labels.CopyInformation(five)
    report = pipeline.measure_labels(labels, ct=five).report
    assert report["quality"]["scan"]["measurable"] is False
    assert "holding the detail of ~" in report["quality"]["scan"]["reason"]
    assert pipeline.measure_labels(labels).report["quality"]["scan"]["measurable"] is True
