"""Cases of a batch: which files and folders of a cohort are CT cases, and their names
(io/ct.py find_cases and case_name).

Truth is the cohort folder written here: CT files of several formats, a DICOM series folder,
a note, an empty folder and a segmentation that are not cases, and names given twice.
"""

import os

import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.case_names import case_name
from NegativeVolumeSegmentationLib.io.ct import find_cases, read_ct
from dicom_writer import write_dicom_series
from synthetic_ct import SIZE, make_ct


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
    # a DICOM folder given directly is one case; names repeated are told apart by their folders
    # (whatever the order); duplicates drop
    other = tmp_path / "other"
    other.mkdir()
    sitk.WriteImage(truth, str(other / "b01.nii"))
    os.symlink(str(cohort / "b01.nii.gz"), str(other / "link.nii.gz"))
    repeated = []
    cases = find_cases([str(cohort / "d04"), str(cohort / "b01.nii.gz"), str(other / "b01.nii"),
                        str(cohort / "b01.nii.gz"), str(other / "link.nii.gz")], repeated)
    assert [name for name, _ in cases] == ["d04", "cohort_b01", "other_b01"]
    assert repeated == [(str(cohort / "b01.nii.gz"),) * 2,   # said, not dropped without a word
                        (str(other / "link.nii.gz"), str(cohort / "b01.nii.gz"))]
    assert case_name("/data/x/p.1.nhdr") == "p.1"
    assert case_name("/data/x/P2.NII.GZ") == "P2"


def test_a_folder_per_patient_is_a_case_each(tmp_path):
    """pat01/ct.nrrd, pat02/ct.nrrd, pat03/ct.nii.gz beside a DICOM series folder pat04 (a
    review, 2026-12-07: without pat04 "folder holds no CT files"; with it, the whole folder was
    one case, pat01-03 left out unsaid): one case each, named by patient where names collide."""
    truth = make_ct()
    cohort = tmp_path / "cohort"
    for patient, name in (("pat01", "ct.nrrd"), ("pat02", "ct.nrrd"), ("pat03", "ct.nii.gz")):
        (cohort / patient).mkdir(parents=True)
        sitk.WriteImage(truth, str(cohort / patient / name))
    (cohort / "pat03" / "notes.txt").write_text("not an image")
    assert [n for n, _ in find_cases([str(cohort)])] == ["pat01", "pat02", "pat03"]
    write_dicom_series(truth, str(cohort / "pat04"))
    # label maps beside the CTs and a results folder written into the cohort are no cases
    sitk.WriteImage(sitk.Cast(truth > 0, sitk.sitkUInt8), str(cohort / "pat01" / "labels.nii.gz"))
    sitk.WriteImage(sitk.Cast(truth > 0, sitk.sitkUInt8), str(cohort / "pat02" / "ct_seg.nrrd"))
    (cohort / "pat05").mkdir()
    sitk.WriteImage(truth, str(cohort / "pat05" / "ct.nrrd"))
    sitk.WriteImage(truth, str(cohort / "pat05" / "ct2.nrrd"))   # two CTs: named with their folder
    (cohort / "done").mkdir()
    (cohort / "done" / "report.json").write_text("{}")
    sitk.WriteImage(truth, str(cohort / "done" / "labels.nii.gz"))
    skipped = []
    cases = find_cases([str(cohort)], skipped=skipped)
    assert [n for n, _ in cases] == ["pat01", "pat02", "pat03", "pat04", "pat05_ct", "pat05_ct2"]
    assert sorted(os.path.relpath(p, str(cohort)) for p in skipped) == [
        "done", os.path.join("pat01", "labels.nii.gz"), os.path.join("pat02", "ct_seg.nrrd")]
    assert [os.path.relpath(p, str(cohort)) for _, p in cases] == [
        os.path.join("pat01", "ct.nrrd"), os.path.join("pat02", "ct.nrrd"),
        os.path.join("pat03", "ct.nii.gz"), "pat04", os.path.join("pat05", "ct.nrrd"),
        os.path.join("pat05", "ct2.nrrd")]
