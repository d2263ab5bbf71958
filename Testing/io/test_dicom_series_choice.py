"""Which series of a study folder is measured, and how it is named (io/dicom_series.py).

The study is written here with known content (dicom_study.py): each series is the synthetic CT
of synthetic_ct.py (or a different image), so which one was read is told by its voxel values,
and the header tags (Modality, ImageType, SeriesNumber, SeriesDescription, ConvolutionKernel,
SliceThickness, AcquisitionTime, ImagePositionPatient) are the ones a scanner writes for a
scout, axial reconstructions, a reformat, another modality. Where the series lie (trees,
cohorts, several folders): test_dicom_series_layouts.py.
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import quality
from NegativeVolumeSegmentationLib.io.ct import read_ct
from NegativeVolumeSegmentationLib.io.dicom_files import dicom_series
from NegativeVolumeSegmentationLib.io.dicom_series import series_record

from dicom_study import BONE, ROOT, SCOUT, SOFT
from dicom_study import assert_same_scan as _same_scan
from dicom_study import soft_kernel as _soft
from dicom_study import tags as _tags
from dicom_study import values as _values
from dicom_study import write_study
from dicom_writer import write_dicom_series
from synthetic_ct import make_ct


def test_a_study_folder_measures_its_axial_ct_and_names_the_rest(tmp_path):
    folder = str(tmp_path / "study")
    bone, _soft = write_study(folder)
    assert len(dicom_series(folder)) == 5
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(bone))
    text = [w for w in warnings if "DICOM series" in w]
    assert len(text) == 1, warnings
    text = text[0]
    assert "folder holds 5 DICOM series; measured series 2 'TMJ 0.6 bone' (H70h, 22 slices)" \
        in text, text
    left, skipped = text.split("other CT series not measured: ")[1].split("; skipped: ")
    assert "series 3 'TMJ 0.6 soft' (H30s, 22 slices)" in left
    assert "series 4 'MPR sag' (derived, 44 slices)" in left
    assert "give a folder holding only its files" in left
    assert "series 1 'Topogram' (localizer, 2 files)" in skipped
    assert "series 5 'T1' (MR, 44 slices)" in skipped
    assert series_record(image) == {"uid": BONE, "number": "2", "description": "TMJ 0.6 bone",
                                    "kernel": "H70h", "thickness": "%.6f" % bone.GetSpacing()[2]}


def test_the_choice_does_not_depend_on_which_series_the_files_list_first(tmp_path):
    """The same study with the bone and soft series' numbers swapped: the lower number (the
    first acquired) is measured whichever UID or file name sorts first."""
    folder = str(tmp_path / "swapped")
    bone = make_ct()
    soft = sitk.Cast(bone + 7, sitk.sitkInt16)
    write_dicom_series(bone, folder, BONE, tags=_tags(3, "TMJ bone", "H70h"))
    write_dicom_series(soft, folder, SOFT, tags=_tags(2, "TMJ soft", "H30s"))
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(soft))
    assert "measured series 2 'TMJ soft'" in warnings[0]


def test_of_two_kernels_of_one_acquisition_the_sharper_is_measured(tmp_path):
    """The soft reconstruction has the lower series number (rule 5 would take it); both share
    the AcquisitionTime: the sharper one is measured, and says why. With their AcquisitionTimes
    apart (two acquisitions: the mouth opened between them) rule 5 holds again."""
    bone = make_ct()
    for acquired_soft, expected, number in (("101500.00", bone, "3"), ("102000.00", None, "2")):
        folder = str(tmp_path / ("study_" + acquired_soft[:4]))
        write_dicom_series(bone, folder, BONE, tags=_tags(3, "bone", "Hr64") +
                           [("0008|0032", "101500.00")])
        soft = _soft(bone)
        write_dicom_series(soft, folder, SOFT, tags=_tags(2, "soft", "Hr36") +
                           [("0008|0032", acquired_soft)])
        image, warnings = read_ct(folder)
        np.testing.assert_array_equal(_values(image),
                                      _values(bone if expected is not None else soft))
        assert "measured series %s" % number in warnings[0], warnings
        assert ("the sharpest of 2 reconstructions of its acquisition" in warnings[0]) \
            == (expected is not None), warnings


def test_a_derived_copy_is_not_a_reconstruction_of_the_original(tmp_path):
    """A DERIVED copy (noise added: sharper edges) with the ORIGINAL's AcquisitionTime, frame of
    reference and slices was measured as "the sharpest reconstruction"; ORIGINAL ranks first."""
    bone = make_ct()
    rng = np.random.default_rng(3)
    noise = sitk.GetImageFromArray(rng.integers(-300, 300, bone.GetSize()[::-1]).astype(np.int16))
    noise.CopyInformation(bone)
    same = [("0008|0032", "101010"), ("0020|0052", ROOT + "9")]
    folder = str(tmp_path / "derived")
    write_dicom_series(bone, folder, BONE, tags=_tags(2, "bone") + same)
    write_dicom_series(sitk.Cast(bone + noise, sitk.sitkInt16), folder, SOFT,
                       tags=_tags(7, "copy", image_type="DERIVED\\SECONDARY\\AXIAL") + same)
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(bone))
    assert "measured series 2 'bone' (22 slices); other CT series not measured: series 7 " \
        "'copy' (derived, 22 slices)" in warnings[0], warnings


def test_a_folder_of_one_series_says_nothing_and_a_file_has_no_series_record(tmp_path):
    folder = str(tmp_path / "one")
    truth = make_ct()
    write_dicom_series(truth, folder, BONE, tags=_tags(7, "TMJ"))
    image, warnings = read_ct(folder)
    assert warnings == [] and series_record(image)["number"] == "7"
    path = str(tmp_path / "ct.nrrd")
    sitk.WriteImage(truth, path)
    assert series_record(read_ct(path)[0]) is None


def test_the_series_slice_thickness_reaches_the_quality_gate(tmp_path):
    """3 mm thick slices reconstructed 1.25 mm apart: the grid alone says 1.25 mm; the gate must
    judge 3 mm (it read the tag only where a reader kept it, which the series reader never did)."""
    folder = str(tmp_path / "thick")
    write_dicom_series(make_ct(), folder, BONE, tags=[("0018|0050", "3.0")])
    image, _warnings = read_ct(folder)
    assert image.GetSpacing()[2] == pytest.approx(1.25)
    reason = quality.check_grid(image).reason
    assert reason is not None and "slices 3 mm" in reason, reason


def test_a_folder_of_a_scout_alone_is_refused_in_one_line(tmp_path):
    """A folder that holds only a one-image scout: nothing else to choose; refused by the
    reader's own check with one line, not measured."""
    from NegativeVolumeSegmentationLib.errors import InputError

    folder = str(tmp_path / "scout")
    write_dicom_series(make_ct(), folder, SCOUT, count=1,
                       tags=_tags(1, "Topogram", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    with pytest.raises(InputError, match="single slice"):
        read_ct(folder)


def test_latin1_and_control_characters_in_the_header_are_read_clean(tmp_path):
    """ISO_IR 100 bytes ('Sch\\xe4del', a kernel 'H70h\\xb5'): SimpleITK hands them over as
    surrogate escapes and writing them into the image's metadata raised TypeError ("internal
    error"). Now they read as the text written; a description of 230 characters holding ESC,
    a newline and a tab is shown cut to 64 characters, without the control characters."""
    from NegativeVolumeSegmentationLib.errors import InputError  # noqa: F401 (none expected)

    folder = str(tmp_path / "latin")
    bone = make_ct()
    latin = [("0008|0005", "ISO_IR 100"),
             ("0008|103e", u"Sch\u00e4del 0.6 Kn\u00f6chern".encode("latin-1")),
             ("0018|1210", u"H70h\u00b5".encode("latin-1"))]
    write_dicom_series(bone, folder, BONE, tags=_tags(2, "x"), slice_tags=lambda k: latin)
    write_dicom_series(_soft(bone), folder, SOFT, count=20, tags=_tags(3, "x"),
                       slice_tags=lambda k: latin)
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(bone))
    assert u"measured series 2 'Sch\u00e4del 0.6 Kn\u00f6chern' (H70h\u00b5, 22 slices)" \
        in warnings[0], warnings
    assert series_record(image)["description"] == u"Sch\u00e4del 0.6 Kn\u00f6chern"

    folder = str(tmp_path / "long")
    text = "A" * 30 + "\n\t\x1b[31mred" + "B" * 190
    write_dicom_series(bone, folder, BONE, tags=_tags(2, text))
    write_dicom_series(bone, folder, SOFT, count=20, tags=_tags(3, u"Kiefergelenk \u00df"))
    image, warnings = read_ct(folder)
    shown = "A" * 30 + " [31mred" + "B" * 23 + "..."
    assert len(shown) == 64 and "measured series 2 '%s' (22 slices)" % shown in warnings[0]
    assert u"series 3 'Kiefergelenk \u00df' (20 slices)" in warnings[0]   # UTF-8 stays UTF-8
    assert not any(c in w for w in warnings for c in "\x1b\n\t")
    assert series_record(image)["description"] == "A" * 30 + " [31mred" + "B" * 190


def test_a_localizer_filed_under_the_axial_series_uid_is_read_apart(tmp_path):
    """Two coronal scout images carry the axial series' own SeriesInstanceUID (some exports file
    them so): the series did not stack ("cannot read DICOM series ...: Exception thrown in
    SimpleITK ImageSeriesReader_Execute: ..."); now its slices are grouped by geometry and the
    axial ones measured, with a warning."""
    folder = str(tmp_path / "mixed")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, tags=_tags(2, "TMJ"))
    scout = sitk.Image([26, 22, 2], sitk.sitkInt16)
    scout.SetDirection([1, 0, 0, 0, 0, 1, 0, -1, 0])
    write_dicom_series(scout, str(tmp_path / "scout"), SCOUT,
                       tags=[("0020|000e", BONE)] + _tags(2, "TMJ", image_type="ORIGINAL\\"
                                                          "PRIMARY\\LOCALIZER"))
    for path in (tmp_path / "scout").iterdir():
        os.rename(str(path), os.path.join(folder, "zz_" + path.name))
    assert len(dicom_series(folder)) == 1                  # GDCM: one series of 24 files
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert len(warnings) == 1 and ("DICOM series 2 holds slices of 2 orientations, sizes or "
                                   "image types" in warnings[0] and "measured 22 of its 24 files"
                                   in warnings[0]), warnings


def test_slices_without_image_position_are_set_apart_or_refused(tmp_path):
    """Without ImagePositionPatient GDCM stacked the slices anywhere: none with it read at the
    origin 1 mm apart (true: 1.25 mm, origin elsewhere); one slice without it put last with the
    spacing 1.40 mm. Now: none with it, refused; a slice of the series without it, refused (the
    rest has a gap); a secondary capture without position filed under the series' UID, set
    apart and the series measured on its true grid."""
    from NegativeVolumeSegmentationLib.errors import InputError

    truth = make_ct()
    folder = write_dicom_series(truth, str(tmp_path / "none"), BONE, tags=_tags(2, "x"),
                                slice_tags=lambda k: [("0020|0032", None)])
    with pytest.raises(InputError, match="no slice of DICOM series 2 has an "
                                         "ImagePositionPatient"):
        read_ct(folder)
    folder = write_dicom_series(truth, str(tmp_path / "one"), BONE, tags=_tags(2, "x"),
                                slice_tags=lambda k: [("0020|0032", None)] if k == 9 else [])
    with pytest.raises(InputError, match="1 of the 22 slices of DICOM series 2 lack "
                                         "ImagePositionPatient"):
        read_ct(folder)
    folder = write_dicom_series(truth, str(tmp_path / "sc"), BONE, tags=_tags(2, "x"))
    capture = write_dicom_series(truth, str(tmp_path / "capture"), BONE, first=5, count=1,
                                 tags=_tags(2, "x"), slice_tags=lambda k: [
                                     ("0020|0032", None), ("0020|0037", None),
                                     ("0008|0016", b"1.2.840.10008.5.1.4.1.1.7"),
                                     ("0008|0018", b"1.2.826.0.1.3680043.2.1125.9.99")])
    name = os.listdir(capture)[0]
    os.rename(os.path.join(capture, name), os.path.join(folder, "zz_" + name))
    image, warnings = read_ct(folder)
    _same_scan(image, truth)
    assert len(warnings) == 1 and "set apart 1 file of DICOM series 2 without " \
        "ImagePositionPatient" in warnings[0] and "other 22 slices" in warnings[0], warnings
