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
from NegativeVolumeSegmentationLib.io.dicom_files import dicom_series
from NegativeVolumeSegmentationLib.io.dicom_series import series_record

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
    top)."""
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


def _lps_marker(image):
    """LPS mm of the brightest voxel (make_ct's marker)."""
    array = sitk.GetArrayViewFromImage(image)
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    return np.asarray(image.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))


def _same_scan(image, truth):
    """The image read is ``truth``: voxels, grid and the marker's LPS position (DICOM keeps
    positions to ~1e-4 mm)."""
    np.testing.assert_array_equal(_values(image), _values(truth))
    np.testing.assert_allclose(image.GetSpacing(), truth.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(image.GetOrigin(), truth.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(_lps_marker(image), _lps_marker(truth), atol=1e-4)


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


def test_a_stray_dicom_file_in_a_cohort_folder_is_a_case_of_its_own(tmp_path):
    """One DICOM file at the top of a cohort folder (beside p1.nrrd and p2's series) made the
    whole folder one case: p1.nrrd ignored, p2 "other CT series not measured". Now each is a
    case and the folder's own file one more, refused on its own; a series at the top beside
    another study's subfolder is measured alone; a study's series at the top and in a subfolder
    stay one case."""
    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.io.ct import find_cases

    cohort = tmp_path / "cohort"
    ct = make_ct()
    other = sitk.Cast(ct + 7, sitk.sitkInt16)
    write_dicom_series(ct, str(cohort / "p2"), BONE, tags=_tags(2, "axial"))
    sitk.WriteImage(other, str(cohort / "p1.nrrd"))
    write_dicom_series(ct, str(cohort), SCOUT, count=1, tags=_tags(1, "stray"))
    cases = find_cases([str(cohort)])
    assert [name for name, _ in cases] == ["cohort", "p1", "p2"]
    with pytest.raises(InputError, match="is a single slice"):
        read_ct(cases[0][1])
    np.testing.assert_array_equal(_values(read_ct(cases[1][1])[0]), _values(other))
    np.testing.assert_array_equal(_values(read_ct(cases[2][1])[0]), _values(ct))

    top = tmp_path / "top"                      # a series at the top, another study below
    write_dicom_series(other, str(top), SOFT, tags=_tags(3, "top"))
    write_dicom_series(ct, str(top / "q1"), BONE, tags=_tags(2, "q1") +
                       [("0020|000d", ROOT + "77")])
    assert [name for name, _ in find_cases([str(top)])] == ["top", "q1"]
    image, warnings = read_ct(str(top))
    np.testing.assert_array_equal(_values(image), _values(other))
    assert "measured the DICOM files of this folder itself" in warnings[0], warnings

    study = tmp_path / "study"                  # one study: its scout at the top, axial below
    write_dicom_series(ct, str(study), SCOUT, count=2,
                       tags=_tags(1, "scout", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    write_dicom_series(ct, str(study / "SE2"), BONE, tags=_tags(2, "axial"))
    assert find_cases([str(study)]) == [("study", str(study))]
    np.testing.assert_array_equal(_values(read_ct(str(study))[0]), _values(ct))


def test_two_patients_in_one_flat_folder_are_refused_naming_both(tmp_path):
    """Two patients' series in one folder: the one with more slices was measured under the
    folder's name, the warning naming neither patient. Now refused in one line naming both
    studies; so are one patient's two studies in a patient / study tree, and two PatientIDs
    whose series share a StudyInstanceUID (a badly anonymised export)."""
    from NegativeVolumeSegmentationLib.errors import InputError

    folder = str(tmp_path / "two")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, count=20, tags=_tags(2, "a") + [
        ("0010|0020", "A1"), ("0008|0020", "20240105"), ("0008|1030", "CT Kopf")])
    write_dicom_series(ct, folder, SOFT, tags=_tags(2, "b") + [
        ("0010|0020", "B7"), ("0020|000d", ROOT + "55"), ("0008|0020", "20240311")])
    with pytest.raises(InputError) as error:
        read_ct(folder)
    text = str(error.value)
    assert "holds the CT series of 2 studies" in text and "give each study its own folder" in text
    assert "patient A1 of 2024-01-05 'CT Kopf'" in text and "patient B7 of 2024-03-11" in text
    tree = tmp_path / "A1"
    write_dicom_series(ct, str(tree / "2024" / "SE2"), BONE, tags=_tags(2, "a") + [
        ("0010|0020", "A1"), ("0008|0020", "20240105")])
    write_dicom_series(ct, str(tree / "2025" / "SE2"), SOFT, tags=_tags(2, "a") + [
        ("0010|0020", "A1"), ("0008|0020", "20250105"), ("0020|000d", ROOT + "56")])
    with pytest.raises(InputError) as error:
        read_ct(str(tree))
    text = str(error.value)
    assert "holds the CT series of 2 studies" in text
    for year in ("2024", "2025"):
        assert "patient A1 of %s-01-05: series 2 'a' in %s (22 slices)" % (
            year, os.path.join(year, "SE2")) in text, text
    same = str(tmp_path / "same")
    write_dicom_series(ct, same, BONE, tags=_tags(2, "a") + [("0010|0020", "A1")])
    write_dicom_series(ct, same, SOFT, tags=_tags(3, "b") + [("0010|0020", "B7")])
    with pytest.raises(InputError, match="2 studies, patient A1 .*: series 2 .*; patient B7 "):
        read_ct(same)


def test_a_series_split_across_folders_is_read_whole(tmp_path):
    """One SeriesInstanceUID, slices 11-21 in folder A and 0-10 in B: measured on 11 slices
    ("other CT series not measured: series 2 in B"). Now one series of 22 slices on its true
    grid; the same series exported twice into two folders is read once, with a warning."""
    truth = make_ct()
    folder = tmp_path / "split"
    write_dicom_series(truth, str(folder / "A"), BONE, first=11, tags=_tags(2, "x"))
    write_dicom_series(truth, str(folder / "B"), BONE, count=11, tags=_tags(2, "x"))
    image, warnings = read_ct(str(folder))
    _same_scan(image, truth)
    assert warnings == ["%s: DICOM series 2 lies in 2 folders (A, B): read as one series of 22 "
                        "files" % folder], warnings
    twice = tmp_path / "twice"
    write_dicom_series(truth, str(twice / "a"), BONE, tags=_tags(2, "x"))
    write_dicom_series(truth, str(twice / "b"), BONE, tags=_tags(2, "x"))
    image, warnings = read_ct(str(twice))
    _same_scan(image, truth)
    assert len(warnings) == 1 and "read as one series of 22 files; 22 duplicate files" \
        in warnings[0], warnings


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


def test_a_series_folder_is_found_behind_other_files(tmp_path):
    """Only a folder's first three files were looked at for the DICOM preamble: a series folder
    whose first names were A.txt, B.txt, C.jpg ("holds no DICOM series, nor do its subfolders").
    Now up to 16 files that may be DICOM are, known other kinds passed over."""
    from NegativeVolumeSegmentationLib.io.ct import find_cases

    truth = make_ct()
    series = write_dicom_series(truth, str(tmp_path / "cohort" / "p1" / "series"), BONE)
    for k, path in enumerate(sorted(os.listdir(series))):
        os.rename(os.path.join(series, path), os.path.join(series, "slice_%03d" % k))
    for junk in ("A.txt", "B.txt", "C.jpg", "Thumbs.db", "index.html"):
        (tmp_path / "cohort" / "p1" / "series" / junk).write_text("x")
    for k in range(5):                                   # files that may be DICOM, and are not
        (tmp_path / "cohort" / "p1" / "series" / ("notes%d" % k)).write_text("x")
    _same_scan(read_ct(str(tmp_path / "cohort"))[0], truth)
    assert find_cases([str(tmp_path / "cohort")]) == [("cohort", str(tmp_path / "cohort"))]
