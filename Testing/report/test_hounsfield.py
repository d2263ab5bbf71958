"""The quality gate's intensity checks (hounsfield.py) on volumes built by hand, whose answer is
known from how they were built: a 100 mm head of tissue in air holding an 8 cm3 bone block whose
values run across it (a real bone's spread), or are uniform, cut at a display window's top, or
hold a filling at a 12-bit scale's top. The real head clipped at 900 HU through ``nvseg run``:
Testing/cli/test_not_measurable.py."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import hounsfield, quality


def _image(spacing, array):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def _head_like(dtype=np.float32, air=-1000.0, tissue=40.0, bone=(400.0, 1800.0), clip=None):
    """A 100 mm cube at 1 mm: air around a 70 mm ball of tissue holding a 20 mm bone block whose
    values run from bone[0] to bone[1] HU across it (a scalar: uniform), cut at ``clip`` HU."""
    z, y, x = np.indices((100, 100, 100))
    array = np.full((100, 100, 100), air, np.float64)
    array[(x - 50) ** 2 + (y - 50) ** 2 + (z - 50) ** 2 < 35 ** 2] = tissue
    low, high = (bone, bone) if np.isscalar(bone) else bone
    array[40:60, 40:60, 40:60] = np.linspace(low, high, 20)[None, None, :]   # 8 cm3 of bone
    if clip is not None:
        array = np.minimum(array, clip)
    return _image((1.0, 1.0, 1.0), array.astype(dtype))


def test_ct_in_hounsfield_units_passes():
    assert hounsfield.check_intensities(_head_like()) == ([], [])


def test_mri_like_intensities_are_not_ct():
    reasons, _ = hounsfield.check_intensities(_head_like(air=0.0, tissue=1500.0, bone=4000.0))
    assert any("no air" in r for r in reasons), reasons


def test_8bit_data_is_not_ct():
    reasons, _ = hounsfield.check_intensities(_head_like(np.uint8, air=0, tissue=60, bone=250))
    assert any("8-bit" in r for r in reasons) and any("no air" in r for r in reasons)


def test_a_ct_without_bone_is_not_measurable():
    reasons, _ = hounsfield.check_intensities(_head_like(bone=40.0))
    assert reasons == [r for r in reasons if "no bone" in r] and reasons


@pytest.mark.parametrize("clip,refused,cautioned", [
    (800.0, True, False),      # below the cortex: the bone's edges are lost
    (1200.0, False, True),     # condyle up to ~5 % large (the real head clipped at 1000-1200 HU)
    (1700.0, False, False),    # the top of the cortex cut: no measurable change
    (None, False, False),
])
def test_bone_clipped_at_a_display_window(clip, refused, cautioned):
    """The bone block (400-1800 HU) cut at ``clip``: 70 % / 45 % / 10 % of it at the maximum."""
    reasons, cautions = hounsfield.check_intensities(_head_like(clip=clip))
    words = "clipped at %.0f HU" % (clip or 0)
    assert any(words in r for r in reasons) is refused, reasons
    assert any(words in c for c in cautions) is cautioned, cautions
    verdict = quality.check_scan(_head_like(clip=clip))
    assert verdict.measurable is not refused


def test_metal_saturating_the_scale_is_no_clipped_bone():
    """A dental filling at the 12-bit scale's top (3071 HU, 0.1 cm3 against 8 cm3 of bone) and
    a bone of one value (a drawn phantom) above the caution's limit: no caution."""
    image = _head_like()
    array = sitk.GetArrayFromImage(image)
    array[20:25, 20:25, 20:24] = 3071.0
    metal = sitk.GetImageFromArray(array)
    metal.CopyInformation(image)
    assert hounsfield.check_intensities(metal) == ([], [])
    assert hounsfield.check_intensities(_head_like(bone=1800.0)) == ([], [])


@pytest.mark.parametrize("tissue,measurable", [
    (40.0, True), (-110.0, True), (150.0, True),   # a CT (with a CBCT's shading, an offset)
    (560.0, False), (-400.0, False)])              # grey values on another scale
def test_soft_tissue_far_from_zero_is_not_hounsfield_units(tissue, measurable):
    """A CBCT's grey values 1.5 (HU + 1000) - 1000 keep air and bone but put soft tissue at
    ~560: the real head so scaled read its condyles +11 / +14 % (a review, 2026-12-07)."""
    image = _head_like(tissue=tissue, bone=(900.0, 2500.0))
    reasons, _cautions = hounsfield.check_intensities(image)
    assert (not reasons) is measurable, reasons
    if not measurable:   # read to its 20 HU bin
        assert len(reasons) == 1 and reasons[0].startswith("not a CT in HU: its soft tissue peaks")
        assert abs(float(reasons[0].split("peaks at ")[1].split(" ")[0]) - tissue) <= 10.0
        assert reasons[0].endswith("(a CT's at 0-100 HU; accepted -250..250): grey values on "
                                   "another scale, as a CBCT's?")


@pytest.mark.parametrize("padding", [-2000.0, -2048.0, -3024.0, -32768.0])
def test_padding_outside_the_reconstruction_circle_becomes_air(padding):
    """A scanner's padding value outside the reconstruction circle (-3024 HU: -2000 stored with
    intercept -1024) passes the gate as a CT and is read as air at the scale's bottom before the
    networks' smoothing and resampling; air's own noise (down to -1100 HU) and everything else
    are kept, with the metadata; an image without padding is passed on as it is."""
    head = sitk.GetArrayFromImage(_head_like(np.int16))
    head[:5, 50:, :] = -1100                      # air's noise: not padding
    z, y, x = np.indices(head.shape)
    outside = (x - 50) ** 2 + (y - 50) ** 2 > 48 ** 2      # corners of each slice
    padded = _image((1.0, 1.0, 1.0), np.where(outside, padding, head).astype(head.dtype))
    padded.SetMetaData("0018|0050", "1.0")
    assert hounsfield.check_intensities(padded) == ([], [])
    air = hounsfield.padding_as_air(padded)
    expected = np.where(outside, -1024, head)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(air), expected)
    assert air.GetPixelID() == padded.GetPixelID() and air.GetMetaData("0018|0050") == "1.0"
    unpadded = _image((1.0, 1.0, 1.0), head)
    assert hounsfield.padding_as_air(unpadded) is unpadded


def test_padding_is_no_air_of_an_mri_like_image():
    """An MRI-like image (no air: its background 0) with -32768 outside a circle is still no CT:
    the padding counts neither as air nor as an intensity outside any CT range."""
    array = sitk.GetArrayFromImage(_head_like(air=0.0, tissue=1500.0, bone=4000.0))
    z, y, x = np.indices(array.shape)
    array[(x - 50) ** 2 + (y - 50) ** 2 > 48 ** 2] = -32768
    reasons, _ = hounsfield.check_intensities(_image((1.0, 1.0, 1.0), array))
    assert any("no air" in r for r in reasons) and not any("CT range" in r for r in reasons), \
        reasons


def test_padding_the_sample_misses_is_no_intensity_either():
    """A one-voxel border of -32768 the gate's regular sample never hits (every second voxel of
    a 200-voxel cube) left the image's minimum at -32768: "outside any CT range"."""
    z, y, x = np.indices((200, 200, 200))
    array = np.full((200, 200, 200), -1000, np.int16)
    array[(x - 100) ** 2 + (y - 100) ** 2 + (z - 100) ** 2 < 70 ** 2] = 40
    array[80:120, 80:120, 80:120] = np.linspace(400, 1800, 40)[None, None, :]   # a bone's spread
    array[:, :, 199] = -32768
    assert hounsfield.check_intensities(_image((1.0, 1.0, 1.0), array)) == ([], [])
