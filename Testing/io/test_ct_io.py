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


def test_a_dicom_series_is_read_as_int16_with_its_tags(tmp_path):
    """GDCM reads a 16-bit series with its rescale intercept applied as int32, and read_ct made
    a float32 copy of that (the real head: +255 MB at the peak for a 36 MB int16 volume). Now the
    values, all within int16, are kept as int16, with the series' tags on the image; an int32
    image whose values do not fit becomes float32, its metadata kept."""
    from NegativeVolumeSegmentationLib.io.ct import as_ct_pixels
    from NegativeVolumeSegmentationLib.io.dicom_series import series_record

    truth = make_ct()
    folder = write_dicom_series(truth, str(tmp_path / "p"), tags=[("0020|0011", "4")])
    image, _warnings = read_ct(folder)
    assert image.GetPixelID() == sitk.sitkInt16
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image),
                                  sitk.GetArrayViewFromImage(truth))
    assert series_record(image)["number"] == "4"
    wide = sitk.Cast(truth, sitk.sitkInt32)
    wide.SetMetaData("0018|0050", "0.6")
    narrow = as_ct_pixels(wide)
    assert narrow.GetPixelID() == sitk.sitkInt16 and narrow.GetMetaData("0018|0050") == "0.6"
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(narrow),
                                  sitk.GetArrayViewFromImage(truth))
    wide[1, 2, 3] = 40000                                  # beyond int16
    kept = as_ct_pixels(wide)
    assert kept.GetPixelID() == sitk.sitkFloat32 and kept.GetMetaData("0018|0050") == "0.6"
    assert kept[1, 2, 3] == 40000.0


def test_a_damaged_slice_is_named_not_called_a_missing_slice(tmp_path):
    """A slice file cut short: GDCM passes over it and the series, one slice short, was refused
    as "slice spacing varies ... missing slices". Now the refusal says which file it could not
    read."""
    folder = write_dicom_series(make_ct(), str(tmp_path / "cut"), tags=[("0020|0011", "2")])
    damaged = sorted(os.listdir(folder))[10]
    with open(os.path.join(folder, damaged), "rb") as handle:
        data = handle.read()
    with open(os.path.join(folder, damaged), "wb") as handle:
        handle.write(data[:-300])
    with pytest.raises(InputError) as error:
        read_ct(folder)
    assert ("cannot read 1 file beside DICOM series 2, damaged or unreadable: %s" % damaged
            in str(error.value)), error.value
    # a slice removed, and beside the series a file GDCM passes over too (no pixel data, as a
    # dose report): of another series, so still "missing slices"
    from dicom_writer import edit_dicom_file

    folder = write_dicom_series(make_ct(), str(tmp_path / "gap"), tags=[("0020|0011", "2")])
    os.remove(os.path.join(folder, sorted(os.listdir(folder))[10]))
    report = write_dicom_series(make_ct(), str(tmp_path / "sr"), series_uid="1.2.826.0.1.9.9",
                                count=1)
    name = os.listdir(report)[0]
    edit_dicom_file(os.path.join(report, name), [("7fe0|0010", None), ("0008|0060", b"SR")])
    os.rename(os.path.join(report, name), os.path.join(folder, "zz_" + name))
    with pytest.raises(InputError, match="slice spacing varies from 1.250 to 2.500 mm"):
        read_ct(folder)


def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    """A case folder we may not list gave "internal error: PermissionError" (os.listdir in the
    DICOM reader). Now one line, from read_ct and from find_cases. The test runs as root here,
    which may list any folder: the refusal is simulated for that folder alone."""
    folder = write_dicom_series(make_ct(), str(tmp_path / "locked"))
    listdir = os.listdir

    def denied(path="."):
        if os.path.abspath(str(path)) == os.path.abspath(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", denied)
    for read in (read_ct, lambda path: find_cases([path])):
        with pytest.raises(InputError, match="locked: cannot read folder: permission denied$"):
            read(folder)


def _modes_obeyed(tmp_path):
    """Whether this process is refused a file of mode 000 (not root with its override)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    os.chmod(str(probe), 0)
    try:
        open(str(probe)).close()
        return False
    except OSError:
        return True
    finally:
        os.chmod(str(probe), 0o644)


def test_unreadable_folders_and_slices_for_real(tmp_path):
    """The same with real permissions: a folder of mode 000, and one slice of mode 000 in the
    middle of a series (GDCM passes over it). Skipped where modes are not obeyed (root; run it
    as root with ``setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=...``)."""
    if not _modes_obeyed(tmp_path):
        pytest.skip("this process reads files whatever their mode (root)")
    cohort = tmp_path / "cohort"                 # one study in two folders, one locked
    write_dicom_series(make_ct(), str(cohort / "ok"))
    locked = write_dicom_series(make_ct(), str(cohort / "locked"))
    os.chmod(locked, 0)
    try:
        with pytest.raises(InputError, match="cannot read folder: permission denied"):
            read_ct(locked)
        assert [name for name, _ in find_cases([str(cohort)])] == ["locked", "ok"]
    finally:
        os.chmod(locked, 0o755)
    folder = write_dicom_series(make_ct(), str(tmp_path / "slice"), tags=[("0020|0011", "2")])
    names = sorted(os.listdir(folder))
    for k, expected in ((10, None), (0, 21)):
        hidden = os.path.join(folder, names[k])
        os.chmod(hidden, 0)
        try:
            if expected is None:
                with pytest.raises(InputError, match="cannot read 1 file beside DICOM series 2, "
                                                     "permission denied: " + names[k]):
                    read_ct(folder)
            else:                                # the first slice: a shorter series, said
                image, warnings = read_ct(folder)
                assert image.GetDepth() == expected
                assert warnings == ["%s: cannot read 1 file beside DICOM series 2, permission "
                                    "denied: %s; measured the 21 slices read"
                                    % (folder, names[k])], warnings
        finally:
            os.chmod(hidden, 0o644)


def _without_orientation(path):
    """Set qform_code and sform_code (int16 at bytes 252 and 254 of a NIfTI-1 header, the
    standard's layout) of an uncompressed .nii to 0: a file that gives no orientation."""
    import struct

    with open(path, "r+b") as handle:
        assert struct.unpack("<i", handle.read(4))[0] == 348
        handle.seek(252)
        handle.write(struct.pack("<hh", 0, 0))
    return path


def test_a_nifti_ct_without_orientation_warns_that_sides_are_assumed(tmp_path):
    """qform and sform codes 0: the patient's left/right cannot be known from the file; the CT is
    read (its stored axes as LPS) with a warning saying so. The same file with its codes set
    reads without it."""
    oriented = str(tmp_path / "oriented.nii")
    sitk.WriteImage(make_ct(), oriented)
    assert read_ct(oriented)[1] == []
    path = str(tmp_path / "scan.nii")
    sitk.WriteImage(make_ct(), path)
    _without_orientation(path)
    image, warnings = read_ct(path)
    assert image.GetSize() == SIZE
    assert len(warnings) == 1 and warnings[0].startswith(path + ": the NIfTI file carries no "
                                                         "orientation"), warnings
    assert "left/right are assumed from its stored axes" in warnings[0]


def test_a_nifti2_header_without_orientation_is_recognised(tmp_path):
    """The NIfTI-2 layout (540-byte header; qform_code and sform_code int32 at bytes 344 and
    348), written here from the standard: codes 0 mean no orientation, a set sform does not."""
    from NegativeVolumeSegmentationLib.io.nifti_data import unoriented_nifti

    def nifti2(path, sform_code):
        header = bytearray(544)
        header[0:4] = np.int32(540).tobytes()
        header[4:12] = b"n+2\0\r\n\x1a\n"
        header[12:14] = np.int16(2).tobytes()            # datatype uint8
        header[14:16] = np.int16(8).tobytes()            # bitpix
        header[16:80] = np.array([3, 4, 4, 4, 1, 1, 1, 1], np.int64).tobytes()
        header[104:168] = np.ones(8, np.float64).tobytes()
        header[168:176] = np.int64(544).tobytes()        # vox_offset
        header[344:352] = np.array([0, sform_code], np.int32).tobytes()
        with open(path, "wb") as handle:
            handle.write(bytes(header) + bytes(64))
        return path

    assert unoriented_nifti(nifti2(str(tmp_path / "none.nii"), 0))
    assert not unoriented_nifti(nifti2(str(tmp_path / "sform.nii"), 1))
