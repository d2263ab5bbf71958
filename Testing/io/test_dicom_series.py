"""A DICOM folder holding a whole study: which series is measured (io/dicom_series.py).

The study is written here with known content: each series is the synthetic CT of test_ct_io.py
(or a different image), so which one was read is told by its voxel values, and the header tags
(Modality, ImageType, SeriesNumber, SeriesDescription, ConvolutionKernel, SliceThickness) are the
ones a scanner writes for a scout, axial reconstructions, a reformat, another modality.
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import quality
from NegativeVolumeSegmentationLib.io.ct import read_ct
from NegativeVolumeSegmentationLib.io.dicom_series import dicom_series, series_record

from dicom_writer import write_dicom_series
from test_ct_io import make_ct

ROOT = "1.2.826.0.1.3680043.2.1125.9."
# file names and UIDs sort in the opposite order of the ranking: the choice must not follow them
BONE = ROOT + "8"          # series 2, the one to measure
SOFT = ROOT + "1"          # series 3: same slices, soft kernel (the values differ by +7 HU)
SCOUT = ROOT + "0"         # series 1: a localizer of two images
REFORMAT = ROOT + "2"      # series 4: DERIVED, more slices
MRI = ROOT + "3"           # series 5: another modality, the most slices


def _tags(number, description, kernel=None, image_type="ORIGINAL\\PRIMARY\\AXIAL", modality="CT"):
    tags = [("0020|0011", str(number)), ("0008|103e", description), ("0008|0008", image_type),
            ("0008|0060", modality)]
    return tags + ([("0018|1210", kernel)] if kernel else [])


def _values(image):
    return sitk.GetArrayViewFromImage(image).astype(np.float32)


def write_study(folder):
    """(bone CT, soft CT): a study folder of five series (module docstring)."""
    bone = make_ct()
    soft = sitk.Cast(bone + 7, sitk.sitkInt16)
    write_dicom_series(bone, folder, BONE, tags=_tags(2, "TMJ 0.6 bone", "H70h"))
    write_dicom_series(soft, folder, SOFT, tags=_tags(3, "TMJ 0.6 soft", "H30s"))
    write_dicom_series(bone, folder, SCOUT, count=2,
                       tags=_tags(1, "Topogram", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    tall = sitk.Tile([bone, bone], [1, 1, 2])     # a reformat / MR series of more slices
    tall.SetSpacing(bone.GetSpacing())
    tall.SetDirection(bone.GetDirection())
    tall.SetOrigin(bone.GetOrigin())
    write_dicom_series(tall, folder, REFORMAT,
                       tags=_tags(4, "MPR sag", image_type="DERIVED\\SECONDARY\\MPR"))
    write_dicom_series(sitk.Cast(tall + 100, sitk.sitkInt16), folder, MRI,
                       tags=_tags(5, "T1", modality="MR"))
    return bone, soft


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


def _soft(image, sigma_mm=0.8):
    """``image`` as a softer kernel reconstructs the same acquisition (int16)."""
    return sitk.Cast(sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32),
                                                     sigma_mm), sitk.sitkInt16)


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
    assert len(warnings) == 1 and ("DICOM series 2 holds slices of 2 orientations or sizes"
                                   in warnings[0] and "measured 22 of its 24 files"
                                   in warnings[0]), warnings


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


def test_an_export_tree_is_one_case_read_from_its_subfolders(tmp_path):
    """A CD / PACS export of one study (DICOMDIR / DICOM / patient / study / series) given at its
    root: one case, its axial CT read from four levels down, the scout named with its subfolder
    (before: "folder holds no CT files and no DICOM series")."""
    from NegativeVolumeSegmentationLib.io.ct import find_cases

    root = tmp_path / "cd"
    root.mkdir()
    (root / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")   # the directory file: not a series
    study = root / "DICOM" / "PA000" / "ST000"
    bone = make_ct()
    write_dicom_series(bone, str(study / "SE000"), SCOUT, count=2,
                       tags=_tags(1, "Topogram", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    write_dicom_series(bone, str(study / "SE001"), BONE, tags=_tags(2, "TMJ bone"))
    assert find_cases([str(root)]) == [("cd", str(root))]
    assert find_cases([str(study)]) == [("ST000", str(study))]    # the study folder: the same
    image, warnings = read_ct(str(root))
    np.testing.assert_array_equal(_values(image), _values(bone))
    assert ("measured series 2 'TMJ bone' in %s (22 slices); skipped: series 1 'Topogram' in %s "
            "(localizer, 2 files)" % (os.path.join("DICOM", "PA000", "ST000", "SE001"),
                                      os.path.join("DICOM", "PA000", "ST000", "SE000"))
            in warnings[0]), warnings


def test_a_cohort_of_export_trees_is_one_case_per_patient(tmp_path):
    """A cohort folder: a patient's flat folder, a patient's study / series tree, a CT file. Each
    is one case (before: the tree was skipped without a word, as it held no series at its
    top); two studies of one patient in one folder stay one case, measured on the first acquired
    series and naming the other."""
    from NegativeVolumeSegmentationLib.io.ct import find_cases

    cohort = tmp_path / "cohort"
    ct = make_ct()
    write_dicom_series(ct, str(cohort / "p1"), BONE, tags=[("0020|000d", ROOT + "101")])
    write_dicom_series(ct, str(cohort / "p2" / "CT head" / "SE2"), SOFT,
                       tags=[("0020|000d", ROOT + "102")] + _tags(2, "axial"))
    write_dicom_series(ct, str(cohort / "p2" / "CT head" / "SE1"), SCOUT, count=1,
                       tags=[("0020|000d", ROOT + "102")] +
                       _tags(1, "scout", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    sitk.WriteImage(ct, str(cohort / "p3.nrrd"))
    cases = find_cases([str(cohort)])
    assert [name for name, _ in cases] == ["p1", "p2", "p3"]
    image, warnings = read_ct(cases[1][1])
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert "measured series 2 'axial' in %s" % os.path.join("CT head", "SE2") in warnings[0]
    # the same two patients' folders without the CT file: two studies, so still two cases
    os.remove(str(cohort / "p3.nrrd"))
    assert [name for name, _ in find_cases([str(cohort)])] == ["p1", "p2"]


@pytest.mark.parametrize("layout,cases,series", [("study", ["study"], ["2"]),
                                                 ("kernels", ["kernels"], ["3"]),
                                                 ("cohort", ["p1", "p2"], ["2", "2"])])
def test_the_benchmark_layouts_read_their_scan(tmp_path, dicom_studies_benchmark, layout, cases,
                                               series):
    """benchmarks/dicom_studies.py's layouts (its table in docs/method.md) with a small scan:
    every case is read as the scan itself, not the soft copy, from the series the table says."""
    from NegativeVolumeSegmentationLib.io.ct import find_cases

    scan = make_ct()
    soft = _soft(scan)
    folder = dicom_studies_benchmark.write_layout(layout, scan, soft, str(tmp_path))
    found = find_cases([folder])
    assert [name for name, _ in found] == cases
    for (_name, path), number in zip(found, series):
        image = read_ct(path)[0]
        np.testing.assert_array_equal(_values(image), _values(scan))
        assert series_record(image)["number"] == number
