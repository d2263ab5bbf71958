"""The gate's checks of the CT at the joint (quality/made_slices.py, quality/noise.py, and
field_of_view.air_edge_reason for padding written as 0 HU) on a box
joint built by hand: a box condyle (16 x 8 x 15 mm, top at z = 0) under a temporal-bone plate,
labelled on a 0.5 mm grid; the CT on a 1 mm grid shifted by a quarter voxel, soft tissue 40 HU,
bone 1500 HU, with Gaussian noise of a known standard deviation (correlated over ~0.6 pixel
in-plane, as a CT's). Truth: the slices made (interpolated or copied) and the noise added. The
real head with slices made at its joints and noise at one joint: Testing/inference/
test_pipeline_real_head.py.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib import pipeline
from NegativeVolumeSegmentationLib.field_of_view import air_edge_reason
from NegativeVolumeSegmentationLib.quality import made_slices, noise

from box_joints import _box, coordinates
from box_joints import grid_at as _grid

SIDE = L.LEFT
CENTRE = (0.0, 0.0, -7.5)       # the box condyle's centre (LPS mm)
CONDYLE_BOX = ((-8, -4, -15), (8, 4, 0))
PLATE_BOX = ((-12, -8, 2), (12, 8, 4))
SLICE_LIMITS = (2.0, 1.0, 6)    # quality.check_grid's: limit, caution (mm), caution's %
INPLANE_LIMITS = (1.5, 0.8, 5)


def _inside(image, box):
    return _box(*coordinates(image), *box)


def _condyle():
    grid = _grid(0.5)
    return np.broadcast_to(_inside(grid, CONDYLE_BOX), grid.GetSize()[::-1]), grid


def _ct(noise_hu=20.0, seed=0, spacing=1.0):
    """int16 CT (HU) of the box joint with correlated Gaussian noise of ``noise_hu``."""
    grid = _grid(spacing, offset=0.25)
    hu = np.full(grid.GetSize()[::-1], 40.0, np.float32)
    for box in (CONDYLE_BOX, PLATE_BOX):
        hu[np.broadcast_to(_inside(grid, box), hu.shape)] = 1500.0
    if noise_hu:
        grain = ndimage.gaussian_filter(np.random.default_rng(seed).normal(
            size=hu.shape).astype(np.float32), (0.0, 0.6, 0.6))
        hu += grain * (noise_hu / grain.std())
    ct = sitk.GetImageFromArray(np.round(hu).astype(np.int16))
    ct.CopyInformation(grid)
    return ct


def _made(ct, first, count, how):
    """``count`` slices from index ``first`` interpolated between the slices either side, or
    copies of the slice before them."""
    array = sitk.GetArrayFromImage(ct)
    below, above = array[first - 1].astype(float), array[first + count].astype(float)
    for i in range(count):
        w = (i + 1.0) / (count + 1.0)
        array[first + i] = (np.round((1 - w) * below + w * above) if how == "interpolated"
                            else array[first - 1])
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(ct)
    return out


def _top_slice(ct):
    """The CT slice index holding the condyle's top (z = 0)."""
    return int(round(ct.TransformPhysicalPointToContinuousIndex((0.0, 0.0, -0.5))[2]))


def _gaps(ct):
    mc, grid = _condyle()
    return made_slices.made_gaps(ct, grid, mc)


def test_measured_slices_read_measured():
    assert _gaps(_ct()) == [] and _gaps(_ct(noise_hu=5.0)) == []


@pytest.mark.parametrize("how", ["interpolated", "copied"])
@pytest.mark.parametrize("count", [1, 3])
def test_slices_made_at_the_joint_are_counted(how, count):
    ct = _ct()
    made = _made(ct, _top_slice(ct) - 1, count, how)
    before = sitk.GetArrayFromImage(made)
    assert _gaps(made) == [(2, count, count + 1.0, False)]
    mc, grid = _condyle()
    reasons, cautions = made_slices.check_made_slices(made, grid, mc, SLICE_LIMITS,
                                                      INPLANE_LIMITS)
    if count == 1:   # measured slices 2 mm apart: a 2 mm scan's caution
        assert reasons == [] and len(cautions) == 1
        assert cautions[0].startswith("1 slice at the joint interpolated or copied")
        assert "measured slices 2 mm apart there (over 1 mm)" in cautions[0]
    else:
        assert cautions == [] and len(reasons) == 1
        assert "measured slices 4 mm apart there (limit 2 mm)" in reasons[0]
    assert np.array_equal(sitk.GetArrayFromImage(made), before)   # the input is not modified


def test_a_gap_filled_by_nearest_neighbour_counts_both_made_slices():
    """Slices k, k + 1 missing, filled with copies of k - 1 and k + 2 (nearest neighbour):
    measured slices 3 mm apart, as the same gap filled linearly."""
    ct = _ct()
    array = sitk.GetArrayFromImage(ct)
    k = _top_slice(ct) - 1
    array[k], array[k + 1] = array[k - 1], array[k + 2]
    filled = sitk.GetImageFromArray(array)
    filled.CopyInformation(ct)
    assert _gaps(filled) == [(2, 2, 3.0, False)]


def test_a_gap_reaching_past_the_joint_counts_whole():
    """8 slices made from 3 mm under the condyle's top to 4 mm over the joint box's top (the
    head grown by 5 mm): measured slices 9 mm apart, not only the part inside the box."""
    ct = _ct()
    assert _gaps(_made(ct, _top_slice(ct) - 3, 8, "interpolated")) == [(2, 8, 9.0, False)]


def test_a_scan_copied_onto_a_finer_grid_throughout_reads_its_own_spacing():
    """The 1 mm CT resampled by nearest neighbour onto 0.8 mm voxels: every fourth or fifth
    slice a copy, along every axis: measured slices ~1 mm apart on average (not 1.6 mm)."""
    ct = _ct()
    size = [int(round(n / 0.8)) for n in ct.GetSize()]
    fine = sitk.Resample(ct, size, sitk.Transform(), sitk.sitkNearestNeighbor, ct.GetOrigin(),
                         (0.8,) * 3, ct.GetDirection(), -1000.0, ct.GetPixelID())
    gaps = _gaps(fine)
    assert gaps and all(throughout and 0.9 <= gap <= 1.1 for _a, _n, gap, throughout in gaps)


def test_slices_made_far_from_the_joint_are_not_its_matter():
    ct = _ct()
    assert _gaps(_made(ct, _top_slice(ct) - 20, 3, "interpolated")) == []


def test_a_scan_resampled_throughout_is_the_grid_checks_matter():
    """The 1 mm CT linearly resampled onto 0.5 mm slices: every other slice lies on its
    neighbours' line, everywhere (the slices' detail is quality.check_grid's)."""
    ct = _ct()
    spacing = (1.0, 1.0, 0.5)
    size = [int(round(n * s / t)) for n, s, t in zip(ct.GetSize(), ct.GetSpacing(), spacing)]
    fine = sitk.Resample(ct, size, sitk.Transform(), sitk.sitkLinear, ct.GetOrigin(), spacing,
                         ct.GetDirection(), -1000.0, sitk.sitkFloat32)
    assert _gaps(fine) == []


def test_an_image_without_noise_cannot_tell():
    ct = _ct(noise_hu=0.0)
    assert _gaps(_made(ct, _top_slice(ct) - 1, 3, "interpolated")) == []


@pytest.mark.parametrize("hu", [0.7, 1.5])
def test_an_image_smoother_than_a_ct_is_not_called_made(hu):
    """Integer voxels with 0.7-1.5 HU of noise lie on their neighbours' line by chance (the
    median slice over half its voxels): measured slices are not told from made ones, so none
    is called made (with 2 HU or more they are told: the test above uses 20)."""
    for seed in range(3):
        assert _gaps(_ct(noise_hu=hu, seed=seed)) == []


def test_slices_made_along_another_array_axis_are_judged_by_its_role():
    """The same joint stored with its slices along the array's x axis, the direction cosines
    turning that axis to the patient's superior one: a slice made along x is judged with the
    slice limits (2 mm apart: a caution), not the in-plane ones (which would refuse it)."""
    ct = _ct()
    array = np.ascontiguousarray(np.transpose(sitk.GetArrayFromImage(ct), (2, 1, 0)))
    sagittal = sitk.GetImageFromArray(array)      # array x <- z, array z <- x
    sagittal.SetSpacing(ct.GetSpacing())
    sagittal.SetOrigin(ct.GetOrigin())
    sagittal.SetDirection((0, 0, 1, 0, 1, 0, 1, 0, 0))
    made = sitk.GetArrayFromImage(sagittal)
    k = _top_slice(ct) - 1
    made[:, :, k] = np.round(0.5 * made[:, :, k - 1] + 0.5 * made[:, :, k + 1])
    out = sitk.GetImageFromArray(made)
    out.CopyInformation(sagittal)
    assert _gaps(out) == [(0, 1, 2.0, False)]
    mc, grid = _condyle()
    reasons, _cautions = made_slices.check_made_slices(out, grid, mc, SLICE_LIMITS,
                                                       INPLANE_LIMITS)
    assert reasons == []      # the superior axis (array x here) takes the slice limits


@pytest.mark.parametrize("hu", [30.0, 130.0, 220.0])
def test_the_noise_read_is_the_noise_added(hu):
    ct = _ct(noise_hu=hu)
    assert noise.soft_tissue_noise_hu(ct, CENTRE) == pytest.approx(hu, rel=0.1)
    shifted = sitk.Cast(ct, sitk.sitkFloat32) + 200.0   # grey values whose soft tissue is 240
    assert noise.soft_tissue_noise_hu(shifted, CENTRE) == pytest.approx(hu, rel=0.1)


def test_noise_is_read_on_1_mm_voxels_and_padding_is_left_out():
    """White noise of 160 HU on 0.5 mm voxels is ~57 HU on 1 mm ones (averaged over 8): read as
    that. Padding of 0 HU (a resampler's fill) beside the joint is no soft tissue."""
    ct = _ct(noise_hu=0.0, spacing=0.5)
    hu = sitk.GetArrayFromImage(ct).astype(np.float32)
    hu += np.random.default_rng(1).normal(0.0, 160.0, hu.shape).astype(np.float32)
    fine = sitk.GetImageFromArray(hu)
    fine.CopyInformation(ct)
    assert noise.soft_tissue_noise_hu(fine, CENTRE) == pytest.approx(160.0 / 8 ** 0.5, rel=0.1)
    noisy = _ct(noise_hu=200.0)
    padded = sitk.GetArrayFromImage(noisy)
    padded[:, :, :int(round(noisy.TransformPhysicalPointToContinuousIndex(
        (-6.0, 0.0, 0.0))[0]))] = 0          # everything 6 mm right of the centre and beyond
    out = sitk.GetImageFromArray(padded)
    out.CopyInformation(noisy)
    assert noise.soft_tissue_noise_hu(out, CENTRE) == pytest.approx(200.0, rel=0.1)


def test_noise_cautions_then_withholds():
    assert noise.check_noise(_ct(noise_hu=60.0), CENTRE) == ([], [])
    reasons, cautions = noise.check_noise(_ct(noise_hu=130.0), CENTRE)
    assert reasons == [] and len(cautions) == 1
    assert cautions[0].startswith("image noise 1") and "(over 100 HU)" in cautions[0]
    reasons, cautions = noise.check_noise(_ct(noise_hu=220.0), CENTRE)
    assert cautions == [] and len(reasons) == 1 and "(limit 150 HU)" in reasons[0]
    assert noise.check_noise(None, CENTRE) == ([], [])


def test_no_soft_tissue_no_estimate():
    ct = sitk.Image(_ct())
    ct = sitk.Add(sitk.Cast(ct, sitk.sitkFloat32) * 0.0, 1500.0)   # bone everywhere
    assert noise.soft_tissue_noise_hu(ct, CENTRE) is None


def test_the_gate_withholds_a_joint_whose_slices_were_made():
    """Through pipeline.measure_labels with the CT: 3 slices at the left condyle's top
    interpolated; left not measurable with the reason, no asymmetry."""
    mc, grid = _condyle()
    labels = np.zeros(grid.GetSize()[::-1], np.uint8)
    labels[mc] = L.CONDYLE[SIDE]
    labels[np.broadcast_to(_inside(grid, PLATE_BOX), labels.shape)] = L.TEMPORAL_BONE[SIDE]
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(grid)
    ct = _ct()
    assert pipeline.measure_labels(image, ct=ct).report["left"]["measurable"] is True
    made = _made(ct, _top_slice(ct) - 1, 3, "interpolated")
    rep = pipeline.measure_labels(image, ct=made).report
    assert rep["left"] is None
    assert "3 slices at the joint interpolated or copied" in rep["quality"]["left"]["reason"]


def _padded(ct, from_x_mm, value):
    """``ct`` with ``value`` written at LPS x >= ``from_x_mm`` (a field of view ending there)."""
    array = sitk.GetArrayFromImage(ct)
    array[:, :, int(np.ceil(ct.TransformPhysicalPointToContinuousIndex(
        (from_x_mm, 0.0, 0.0))[0])):] = value
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(ct)
    return out


@pytest.mark.parametrize("value", [0, -1024])
def test_padding_of_any_value_cutting_the_condyle_is_a_field_of_view_cut(value):
    """A resampler's fill of 0 HU read as tissue: the field of view ending 4 mm inside the
    16 mm wide condyle was not seen. Ending 6 mm outside it, nothing is said."""
    mc, grid = _condyle()
    assert "cuts the joint" in air_edge_reason(_padded(_ct(), 4.0, value), mc, grid)
    assert air_edge_reason(_padded(_ct(), 14.0, value), mc, grid) is None
    assert air_edge_reason(_ct(), mc, grid) is None


def test_flat_tissue_without_noise_and_flat_bone_are_not_padding():
    """A synthetic CT without noise is flat everywhere (no texture to tell padding by); bone
    clipped flat by a display window is bone."""
    mc, grid = _condyle()
    assert air_edge_reason(_ct(noise_hu=0.0), mc, grid) is None
    clipped = sitk.Minimum(sitk.Cast(_ct(), sitk.sitkFloat32), 1200.0)
    assert air_edge_reason(clipped, mc, grid) is None
