"""Where a study's DICOM series lie: export trees, cohort folders, a series across folders, files
beside the series (io/ct.py find_cases and read_ct, io/dicom_series.py).

The folders are written here with known content (dicom_study.py): each series is the synthetic
CT of synthetic_ct.py (or a different image), so which one was read, and from which folder, is
told by its voxel values and its series number; which series of one folder is measured:
test_dicom_series_choice.py.
"""

import os
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import read_ct
from NegativeVolumeSegmentationLib.io.dicom_series import series_record

from dicom_study import BONE, ROOT, SCOUT, SOFT
from dicom_study import assert_same_scan as _same_scan
from dicom_study import soft_kernel as _soft
from dicom_study import tags as _tags
from dicom_study import values as _values
from dicom_writer import write_dicom_series
from synthetic_ct import make_ct


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


def _without_preamble(folder, meta):
    """Rewrite each file of ``folder`` without the 128-byte preamble and "DICM" (``meta``: the
    file meta group 0002 kept, else the bare data set, as older scanners wrote)."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        with open(path, "rb") as handle:
            data = handle.read()
        assert data[128:132] == b"DICM" and data[132:136] == b"\x02\x00\x00\x00"
        body = data[132:]
        group_length = struct.unpack("<I", body[8:12])[0]   # (0002,0000) UL
        with open(path, "wb") as handle:
            handle.write(body if meta else body[12 + group_length:])


@pytest.mark.parametrize("meta", [False, True])
def test_series_without_the_preamble_are_found_in_subfolders(tmp_path, meta):
    """DICOM files written without the Part 10 preamble ("DICM" at byte 128) in an export's
    subfolder: before, the folder was not found ("holds no DICOM series, nor do its subfolders")
    while find_cases listed it (GDCM lists such files); with the file meta group but no
    preamble, GDCM lists the series and ITK could not pick a reader for it ("cannot read DICOM
    series ... Unable to determine ImageIO reader")."""
    from NegativeVolumeSegmentationLib.io.ct import find_cases
    from NegativeVolumeSegmentationLib.io.dicom_files import is_dicom_file

    truth = make_ct()
    series = write_dicom_series(truth, str(tmp_path / "export" / "PA0" / "ST0" / "SE0"), BONE,
                                tags=_tags(2, "TMJ"))
    _without_preamble(series, meta)
    assert all(is_dicom_file(os.path.join(series, n)) for n in os.listdir(series))
    image, warnings = read_ct(str(tmp_path / "export"))
    _same_scan(image, truth)
    assert warnings == []
    _same_scan(read_ct(series)[0], truth)
    assert find_cases([str(tmp_path / "export")]) == [("export", str(tmp_path / "export"))]


def test_other_binary_files_are_not_taken_for_dicom(tmp_path):
    from NegativeVolumeSegmentationLib.io.dicom_files import dicom_folders, is_dicom_file

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "zeros").write_bytes(b"\0" * 1024)
    (junk / "random").write_bytes(np.random.default_rng(0).bytes(1024))
    (junk / "short").write_bytes(b"\x08\x00")
    (junk / "long_value").write_bytes(b"\x08\x00\x05\x00" + struct.pack("<I", 1 << 20) + b"x" * 64)
    assert not any(is_dicom_file(str(p)) for p in junk.iterdir())
    assert dicom_folders(str(tmp_path)) == []
