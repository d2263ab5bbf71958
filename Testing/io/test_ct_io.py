"""CT reading: every format keeps geometry (origin, spacing, oblique direction) and voxel values.

Truth is the synthetic image written here; positions are compared in physical LPS mm.
Tolerances: NRRD/MetaImage store doubles as text (1e-9 mm); NIfTI stores float32 qform/sform and
pixdim (1e-4 mm for origins of a few hundred mm, 1e-6 for direction cosines); DICOM stores
decimal strings of at most 16 characters, which GDCM writes with ~10 significant digits
(1e-4 mm positions, 1e-6 direction cosines).
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.ct import case_name, check_ct_like, find_cases, read_ct
from dicom_writer import write_dicom_series  # noqa: F401 (used here and imported from here)

SIZE = (26, 24, 22)                      # i, j, k voxels
SPACING = (0.45, 0.6, 1.25)              # mm, anisotropic
ORIGIN = (-101.3, 55.2, -310.7)          # LPS mm
EULER_DEG = (15.0, -25.0, 40.0)          # oblique rotation
MARKER_IJK = (22, 12, 11)                # bright marker voxel


def oblique_direction():
    return Rotation.from_euler("xyz", EULER_DEG, degrees=True).as_matrix()


def make_ct(seed=0):
    """int16 HU image: air, soft tissue, a bone block, random texture and one bright marker."""
    rng = np.random.default_rng(seed)
    array = np.full(SIZE[::-1], -1000, dtype=np.int16)
    array[3:-3, 3:-3, 3:-3] = 40
    array[8:14, 8:16, 6:12] = 1200
    array += rng.integers(-20, 21, size=array.shape).astype(np.int16)
    i, j, k = MARKER_IJK
    array[k, j, i] = 3000
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(oblique_direction().ravel().tolist())
    return image


def assert_same_geometry(image, truth, mm_tol, dir_tol):
    assert image.GetSize() == truth.GetSize()
    np.testing.assert_allclose(image.GetOrigin(), truth.GetOrigin(), atol=mm_tol, rtol=0)
    np.testing.assert_allclose(image.GetSpacing(), truth.GetSpacing(), atol=mm_tol, rtol=0)
    np.testing.assert_allclose(image.GetDirection(), truth.GetDirection(), atol=dir_tol, rtol=0)


def marker_lps(image):
    """Physical LPS position (mm) of the brightest voxel."""
    array = sitk.GetArrayViewFromImage(image)
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    return np.asarray(image.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))


@pytest.mark.parametrize("ending,mm_tol,dir_tol", [
    (".nii.gz", 1e-4, 1e-6), (".nii", 1e-4, 1e-6), (".nrrd", 1e-9, 1e-12),
    (".nhdr", 1e-9, 1e-12), (".mha", 1e-9, 1e-12), (".mhd", 1e-9, 1e-12)])
def test_file_formats_keep_geometry_and_values(tmp_path, ending, mm_tol, dir_tol):
    truth = make_ct()
    path = str(tmp_path / ("scan" + ending))
    sitk.WriteImage(truth, path)
    image, warnings = read_ct(path)
    # 16-bit integer CTs are kept as stored (no float32 copy of a large scan)
    assert image.GetDimension() == 3 and image.GetPixelID() == truth.GetPixelID()
    assert_same_geometry(image, truth, mm_tol, dir_tol)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image),
                                  sitk.GetArrayViewFromImage(truth).astype(np.float32))
    expected_marker = np.asarray(truth.TransformIndexToPhysicalPoint(MARKER_IJK))
    assert np.abs(marker_lps(image) - expected_marker).max() < mm_tol + 1e-9
    assert warnings == []


def test_dicom_series_keeps_geometry_and_applies_rescale(tmp_path):
    truth = make_ct()
    folder = write_dicom_series(truth, str(tmp_path / "patient7"))
    # the files really hold HU + 1024 (uncompressed little-endian pixel data at the end of a file)
    rows, cols = SIZE[1], SIZE[0]
    data = open(os.path.join(folder, sorted(os.listdir(folder))[5]), "rb").read()
    stored = np.frombuffer(data[-2 * rows * cols:], dtype="<u2").reshape(rows, cols)
    np.testing.assert_array_equal(stored.astype(int),
                                  sitk.GetArrayViewFromImage(truth)[5].astype(int) + 1024)
    image, warnings = read_ct(folder)
    assert_same_geometry(image, truth, 1e-4, 1e-6)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image),
                                  sitk.GetArrayViewFromImage(truth).astype(np.float32))
    assert np.abs(marker_lps(image) - truth.TransformIndexToPhysicalPoint(MARKER_IJK)).max() < 1e-4
    assert warnings == []
    assert case_name(folder) == "patient7" and case_name(folder + os.sep) == "patient7"


def test_dicom_folder_with_two_series_takes_the_larger_and_warns(tmp_path):
    truth = make_ct()
    folder = str(tmp_path / "mixed")
    write_dicom_series(truth, folder, series_uid="1.2.826.0.1.3680043.2.1125.7.2", count=21)
    other = sitk.Cast(truth + 7, sitk.sitkInt16)
    write_dicom_series(other, folder, series_uid="1.2.826.0.1.3680043.2.1125.7.3")
    image, warnings = read_ct(folder)
    assert image.GetSize() == SIZE
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image),
                                  sitk.GetArrayViewFromImage(other).astype(np.float32))
    assert len(warnings) == 1 and "2 DICOM series" in warnings[0] and "22 slices" in warnings[0]


def test_dicom_missing_slice_is_refused_as_uneven_spacing(tmp_path):
    """A missing slice (one gap 2x the others) was a warning; it is now refused (InputError): the
    gap cannot be resampled reliably (io/gantry_tilt.MAX_SLICE_GAP_VARIATION)."""
    truth = make_ct()
    folder = str(tmp_path / "gap")
    write_dicom_series(truth, folder)
    os.remove(os.path.join(folder, sorted(os.listdir(folder))[10]))
    with pytest.raises(InputError, match="slice spacing varies from 1.250 to 2.500 mm"):
        read_ct(folder)


def test_dicom_gantry_tilt_is_reported(tmp_path):
    """Slices shifted along the in-plane row direction by tan(10°)·slice gap: 10° tilt."""
    truth = make_ct()
    row = oblique_direction()[:, 1]
    shift = row * SPACING[2] * np.tan(np.radians(10.0))
    folder = write_dicom_series(truth, str(tmp_path / "tilt"), shift_per_slice=shift)
    _image, warnings = read_ct(folder)
    assert len(warnings) == 1 and "tilted by 10.0 degrees" in warnings[0]


@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])
def test_flipped_array_keeps_patient_left_by_physical_position(tmp_path, ending):
    """Flip the array along i, negate the direction's first column and move the origin to the old
    last column: every voxel keeps its LPS position, so the marker stays on the patient's left."""
    truth = make_ct()
    array = sitk.GetArrayFromImage(truth)
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(array[:, :, ::-1]))
    direction = oblique_direction()
    direction[:, 0] *= -1.0
    flipped.SetSpacing(SPACING)
    flipped.SetDirection(direction.ravel().tolist())
    flipped.SetOrigin(truth.TransformIndexToPhysicalPoint((SIZE[0] - 1, 0, 0)))
    path = str(tmp_path / ("flipped" + ending))
    sitk.WriteImage(flipped, path)
    image, _warnings = read_ct(path)
    assert np.linalg.det(np.reshape(image.GetDirection(), (3, 3))) == pytest.approx(-1.0, abs=1e-6)
    expected = np.asarray(truth.TransformIndexToPhysicalPoint(MARKER_IJK))
    assert np.abs(marker_lps(image) - expected).max() < 1e-4
    # the marker is on the patient's left (+x LPS) of the volume centre, in both images
    centre = np.asarray(truth.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2.0 for s in SIZE]))
    centre_flipped = np.asarray(image.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2.0 for s in SIZE]))
    np.testing.assert_allclose(centre_flipped, centre, atol=1e-4)
    assert marker_lps(image)[0] > centre[0]


def _image_of(array, spacing=(0.5, 0.5, 0.5)):
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    return image


def test_check_ct_like_flags_non_hounsfield_intensities():
    rng = np.random.default_rng(1)
    head = np.full((30, 30, 30), -1000.0)
    head[5:25, 5:25, 5:25] = 40.0
    head[10:15, 10:15, 10:15] = 1500.0
    assert check_ct_like(_image_of(head)) == []
    mri = rng.uniform(0, 900, size=(30, 30, 30))
    warnings = check_ct_like(_image_of(mri), "mri.nii.gz")
    assert any("no air" in w and "MRI" in w for w in warnings)
    raw = head + 1024.0
    assert any("rescale intercept" in w for w in check_ct_like(_image_of(raw), "raw"))
    normalised = (head + 1000.0) / 2500.0
    assert any("normalised" in w for w in check_ct_like(_image_of(normalised), "n"))
    no_bone = np.where(head > 100, 60.0, head)
    assert any("no bone" in w for w in check_ct_like(_image_of(no_bone), "soft"))
    coarse = check_ct_like(_image_of(head, spacing=(0.5, 0.5, 5.0)), "thick")
    assert len(coarse) == 1 and "coarse" in coarse[0]


def test_mri_like_file_gives_warning_not_error(tmp_path):
    rng = np.random.default_rng(2)
    path = str(tmp_path / "t1.nrrd")
    sitk.WriteImage(_image_of(rng.uniform(0, 900, size=(25, 25, 25))), path)
    image, warnings = read_ct(path)
    assert image.GetSize() == (25, 25, 25)
    assert len(warnings) >= 1 and all(w.startswith(path) for w in warnings)


def test_case_names_and_batch_expansion(tmp_path):
    truth = make_ct()
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for name in ("b01.nii.gz", "a02.nrrd", "c03.mhd"):
        sitk.WriteImage(truth, str(cohort / name))
    (cohort / "notes.txt").write_text("not an image")
    (cohort / "empty").mkdir()
    sitk.WriteImage(sitk.Cast(truth > 0, sitk.sitkUInt8), str(cohort / "old.seg.nrrd"))
    write_dicom_series(truth, str(cohort / "d04"))
    cases = find_cases([str(cohort)])
    assert [name for name, _ in cases] == ["a02", "b01", "c03", "d04"]
    assert [os.path.basename(p) for _, p in cases] == ["a02.nrrd", "b01.nii.gz", "c03.mhd", "d04"]
    for _name, path in cases:
        image, _ = read_ct(path)
        assert image.GetSize() == SIZE
    # a DICOM folder given directly is one case; a repeated name gets a suffix; duplicates drop
    other = tmp_path / "other"
    other.mkdir()
    sitk.WriteImage(truth, str(other / "b01.nii"))
    cases = find_cases([str(cohort / "d04"), str(cohort / "b01.nii.gz"), str(other / "b01.nii"),
                        str(cohort / "b01.nii.gz")])
    assert [name for name, _ in cases] == ["d04", "b01", "b01_2"]
    assert case_name("/data/x/p.1.nhdr") == "p.1"
    assert case_name("/data/x/P2.NII.GZ") == "P2"


def test_real_head_ct_reads_as_ct(real_head_ct_path):
    image, warnings = read_ct(real_head_ct_path)
    plain = sitk.ReadImage(real_head_ct_path)
    assert_same_geometry(image, plain, 0.0, 0.0)
    array = sitk.GetArrayViewFromImage(image)
    assert array.min() < -900 and array.max() > 1000
    assert warnings == []
