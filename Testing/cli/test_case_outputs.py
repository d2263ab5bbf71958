"""Each case's output folder of ``nvseg run`` (cli/case_outputs.py): which earlier results
``--resume`` keeps, where a case goes when its folder holds another input's result, and that a
DICOM input folder is never written into.

The end-to-end run (kept cases not computed again, an interrupted run's rows) is in
test_cli_run.py; here the rule itself on results folders written by hand: the same input, not
changed since (a DICOM folder's file copied in with its old time kept counts as a change), the
same version, parameters and networks."""

import json
import os
import shutil

import pytest

from NegativeVolumeSegmentationLib.cli import case_outputs
from NegativeVolumeSegmentationLib.errors import InputError

EXPECTED = {"version": "0.1.0", "parameters": {"mode": "confined", "max_distance_mm": 10.0},
            "models": {"segmentation": "tmj_segmentation.pt"},
            "model_sha256": {"segmentation": "ab" * 32}}
PAST = 1.6e9   # 2020-09: an input written long before its result


def _case(tmp_path, report=None):
    series = tmp_path / "series"
    series.mkdir()
    for name in ("1.dcm", "2.dcm"):
        (series / name).write_bytes(b"slice")
        os.utime(str(series / name), (PAST, PAST))
    os.utime(str(series), (PAST, PAST))
    folder = tmp_path / "out" / "case"
    folder.mkdir(parents=True)
    report = dict(EXPECTED, inputs={"ct": str(series)}, left=None, right=None) \
        if report is None else report
    (folder / "report.json").write_text(json.dumps(report))
    os.utime(str(folder / "report.json"), (PAST + 100, PAST + 100))
    return series, folder


def test_the_same_result_is_kept(tmp_path):
    series, folder = _case(tmp_path)
    kept, why = case_outputs.earlier_report(str(folder), str(series), EXPECTED)
    assert why is None and kept["inputs"]["ct"] == str(series)


def test_nothing_there_is_simply_computed(tmp_path):
    assert case_outputs.earlier_report(str(tmp_path), str(tmp_path / "ct.nii.gz"), EXPECTED) == (None, None)


def test_a_file_copied_in_with_its_old_time_is_a_change(tmp_path):
    series, folder = _case(tmp_path)
    shutil.copy2(str(series / "1.dcm"), str(series / "3.dcm"))   # keeps the 2020 time
    assert os.path.getmtime(str(series / "3.dcm")) == PAST
    kept, why = case_outputs.earlier_report(str(folder), str(series), EXPECTED)
    assert kept is None and why == "the input changed after the earlier result was written"


def test_other_networks_parameters_or_input_are_computed_again(tmp_path):
    series, folder = _case(tmp_path)
    for key, value, words in (
            ("model_sha256", {"segmentation": "cd" * 32}, "other model files"),
            ("parameters", dict(EXPECTED["parameters"], max_distance_mm=8.0), "other parameters"),
            ("version", "0.0.9", "other nvseg version")):
        kept, why = case_outputs.earlier_report(str(folder), str(series), dict(EXPECTED, **{key: value}))
        assert kept is None and why == "the earlier result was made with " + words
    kept, why = case_outputs.earlier_report(str(folder), str(tmp_path / "other"), EXPECTED)
    assert kept is None and why == "the earlier result was made from %s" % series


def test_a_scan_stopped_before_any_network_does_not_depend_on_them(tmp_path):
    report = {"version": EXPECTED["version"], "parameters": EXPECTED["parameters"],
              "left": None, "right": None}
    series, folder = _case(tmp_path, report)
    report["inputs"] = {"ct": str(series)}
    (folder / "report.json").write_text(json.dumps(report))
    os.utime(str(folder / "report.json"), (PAST + 100, PAST + 100))
    kept, why = case_outputs.earlier_report(str(folder), str(series),
                                      dict(EXPECTED, model_sha256={"segmentation": "cd" * 32}))
    assert why is None and kept["left"] is None


def test_an_unreadable_report_is_computed_again(tmp_path):
    series, folder = _case(tmp_path)
    (folder / "report.json").write_text("{ cut off")
    kept, why = case_outputs.earlier_report(str(folder), str(series), EXPECTED)
    assert kept is None and why == "its earlier report.json cannot be read"


def test_a_detached_headers_voxel_file_counts(tmp_path):
    """A MetaImage header s.mhd with its voxels in s.raw: rewriting s.raw alone changes the
    input (the header keeps its time)."""
    (tmp_path / "s.mhd").write_text("ElementDataFile = s.raw\n")
    (tmp_path / "s.raw").write_bytes(b"\0" * 8)
    (tmp_path / "sibling.raw").write_bytes(b"\0")
    for name in ("s.mhd", "s.raw", "sibling.raw"):
        os.utime(str(tmp_path / name), (PAST, PAST))
    assert case_outputs.newest_change(str(tmp_path / "s.mhd")) == PAST
    os.utime(str(tmp_path / "s.raw"), (PAST + 500, PAST + 500))
    assert case_outputs.newest_change(str(tmp_path / "s.mhd")) == PAST + 500
    os.utime(str(tmp_path / "sibling.raw"), (PAST + 900, PAST + 900))   # not its voxels
    assert case_outputs.newest_change(str(tmp_path / "s.mhd")) == PAST + 500


def test_the_output_is_never_written_into_a_dicom_input(tmp_path):
    series = tmp_path / "series"
    series.mkdir()
    cases = [("series", str(series))]
    with pytest.raises(InputError, match="lies inside the input"):
        case_outputs.check_places(cases, str(series / "out"))
    with pytest.raises(InputError, match="would be written into its own input folder"):
        case_outputs.check_places(cases, str(tmp_path))          # nvseg run series -o .
    case_outputs.check_places(cases, str(tmp_path / "results"))   # beside it: fine
    case_outputs.check_places([("head", str(tmp_path / "head.nii.gz"))], str(tmp_path))


def test_another_inputs_result_is_never_overwritten(tmp_path, capsys):
    """a/p01 measured into out/p01; then b/p01 alone: it goes to p01_2, and a's result stays; a
    again finds its own folder."""
    out = tmp_path / "out"
    (out / "p01").mkdir(parents=True)
    (out / "p01" / "report.json").write_text(json.dumps({"inputs": {"ct": "/data/a/p01.nii.gz"}}))
    taken = {}
    assert case_outputs.case_folder(str(out), "p01", "/data/b/p01.nii.gz", taken) == (
        "p01_2", str(out / "p01_2"))
    assert "p01 holds another case" in capsys.readouterr().err
    # in one run, P01 after p01 would share p01's folder on macOS and Windows
    taken = {}
    assert case_outputs.case_folder(str(tmp_path), "p01", "/data/d/p01.nii.gz", taken) == (
        "p01", str(tmp_path / "p01"))
    capsys.readouterr()
    assert case_outputs.case_folder(str(tmp_path), "P01", "/data/c/P01.nii.gz", taken)[0] == "P01_2"
    # the message names the folder as it is (p01), not the case's own spelling (P01)
    assert "(%s holds another case)" % (tmp_path / "p01") in capsys.readouterr().err
    assert case_outputs.case_folder(str(out), "p01", "/data/a/p01.nii.gz", {}) == (
        "p01", str(out / "p01"))


def test_cohort_row_shows_no_number_for_a_side_the_gate_withheld():
    """A report whose quality block withholds the left side while values are still there (a
    report edited or made by other code): cohort.csv shows the reason, no number, no asymmetry."""
    from NegativeVolumeSegmentationLib.report.cohort_csv import cohort_row

    values = {"negative_volume_mm3": 2075.895, "condyle_volume_mm3": 1764.9}
    rep = {"left": values, "right": values,
           "asymmetry_percent": {"negative_volume": 3.25, "condyle_volume": 2.7},
           "quality": {"left": {"measurable": False, "reason": "metal in the condylar head"},
                       "right": {"measurable": True, "reason": None}}}
    row = cohort_row("c", "/data/c.nii.gz", rep)
    assert row["left_measurable"] == "no" and row["left_reason"] == "metal in the condylar head"
    assert row["left_negative_volume_mm3"] == "" and row["right_negative_volume_mm3"] == "2075.895"
    assert row["asymmetry_negative_volume_percent"] == ""
