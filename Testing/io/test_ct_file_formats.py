"""CT files: every format keeps geometry (origin, spacing, oblique direction) and voxel values,
and a NIfTI file without orientation is recognised (io/ct.py read_ct, io/nifti_data.py).

Truth is the synthetic image of synthetic_ct.py, written here; positions are compared in
physical LPS mm. Tolerances: NRRD/MetaImage store doubles as text (1e-9 mm); NIfTI stores
float32 qform/sform and pixdim (1e-4 mm for origins of a few hundred mm, 1e-6 for direction
cosines). The NIfTI headers' byte layout is the standard's. DICOM series:
test_ct_dicom_read.py.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import read_ct
from synthetic_ct import MARKER_IJK, SIZE, SPACING, assert_same_geometry, make_ct, marker_lps
from synthetic_ct import oblique_direction


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


def test_real_head_ct_reads_as_ct(real_head_ct_path):
    image, warnings = read_ct(real_head_ct_path)
    plain = sitk.ReadImage(real_head_ct_path)
    assert_same_geometry(image, plain, 0.0, 0.0)
    array = sitk.GetArrayViewFromImage(image)
    assert array.min() < -900 and array.max() > 1000
    assert warnings == []


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


@pytest.mark.parametrize("route", ["file", "memory"])
def test_a_direction_off_orthonormal_by_float_noise_is_made_orthonormal(tmp_path, route):
    """The oblique synthetic CT with every entry of its direction off by up to 3e-5 (accepted:
    a header's float noise) comes back with the nearest orthonormal direction (the 0.3 mm grid
    takes its transpose for its inverse: the real head read condyles -1.0 %), its voxels where
    they were to 0.01 mm, the marker where it was; the caller's image is not changed."""
    from NegativeVolumeSegmentationLib.pipeline import check_image

    truth = make_ct()
    noisy = sitk.Image(truth)
    direction = oblique_direction() + np.random.default_rng(2).uniform(-3e-5, 3e-5, (3, 3))
    noisy.SetDirection([float(v) for v in direction.ravel()])
    if route == "file":
        path = str(tmp_path / "ct.mha")
        sitk.WriteImage(noisy, path)
        image, _warnings = read_ct(path)
    else:
        image = check_image(noisy)
        assert np.array_equal(np.asarray(noisy.GetDirection()), direction.ravel())
    got = np.asarray(image.GetDirection()).reshape(3, 3)
    assert np.abs(got.T @ got - np.eye(3)).max() < 1e-12
    assert np.abs(got - direction).max() < 1e-4
    corner = np.array(SIZE) - 1
    assert np.linalg.norm(np.subtract(image.TransformIndexToPhysicalPoint(corner.tolist()),
                                      noisy.TransformIndexToPhysicalPoint(corner.tolist()))) < 0.01
    np.testing.assert_allclose(marker_lps(image), marker_lps(noisy), atol=0.01)
    assert np.array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(truth))
