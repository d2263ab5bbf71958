"""A CT given as a DICOM series: geometry, the rescale to HU, int16 pixels, the series' tags,
two series, a missing slice, gantry tilt (io/ct.py read_ct, io/dicom_series.py).

Truth is the synthetic image of synthetic_ct.py written as a series by dicom_writer.py, whose
files hold HU + 1024 (checked here in the bytes); positions are compared in physical LPS mm.
Tolerances: DICOM stores decimal strings of at most 16 characters, which GDCM writes with ~10
significant digits (1e-4 mm positions, 1e-6 direction cosines). Damaged and unreadable files:
test_ct_unreadable_files.py; a study of several series: test_dicom_series_choice.py.
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.case_names import case_name
from NegativeVolumeSegmentationLib.io.ct import read_ct
from dicom_writer import write_dicom_series
from synthetic_ct import MARKER_IJK, SIZE, SPACING, assert_same_geometry, make_ct, marker_lps
from synthetic_ct import oblique_direction


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
