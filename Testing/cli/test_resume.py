"""``nvseg run --resume`` (cli/resume.py): which earlier results are kept.

The end-to-end run (kept cases not computed again, an interrupted run's rows) is in
test_cli_run.py; here the rule itself on results folders written by hand: the same input, not
changed since (a DICOM folder's file copied in with its old time kept counts as a change), the
same version, parameters and networks."""

import json
import os
import shutil

from NegativeVolumeSegmentationLib.cli import resume

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
    kept, why = resume.earlier_report(str(folder), str(series), EXPECTED)
    assert why is None and kept["inputs"]["ct"] == str(series)


def test_nothing_there_is_simply_computed(tmp_path):
    assert resume.earlier_report(str(tmp_path), str(tmp_path / "ct.nii.gz"), EXPECTED) == (None, None)


def test_a_file_copied_in_with_its_old_time_is_a_change(tmp_path):
    series, folder = _case(tmp_path)
    shutil.copy2(str(series / "1.dcm"), str(series / "3.dcm"))   # keeps the 2020 time
    assert os.path.getmtime(str(series / "3.dcm")) == PAST
    kept, why = resume.earlier_report(str(folder), str(series), EXPECTED)
    assert kept is None and why == "the input changed after the earlier result was written"


def test_other_networks_parameters_or_input_are_computed_again(tmp_path):
    series, folder = _case(tmp_path)
    for key, value, words in (
            ("model_sha256", {"segmentation": "cd" * 32}, "another model sha256"),
            ("parameters", dict(EXPECTED["parameters"], max_distance_mm=8.0), "another parameters"),
            ("version", "0.0.9", "another version")):
        kept, why = resume.earlier_report(str(folder), str(series), dict(EXPECTED, **{key: value}))
        assert kept is None and why == "the earlier result was made with " + words
    kept, why = resume.earlier_report(str(folder), str(tmp_path / "other"), EXPECTED)
    assert kept is None and why == "the earlier result was made from %s" % series


def test_a_scan_stopped_before_any_network_does_not_depend_on_them(tmp_path):
    report = {"version": EXPECTED["version"], "parameters": EXPECTED["parameters"],
              "left": None, "right": None}
    series, folder = _case(tmp_path, report)
    report["inputs"] = {"ct": str(series)}
    (folder / "report.json").write_text(json.dumps(report))
    os.utime(str(folder / "report.json"), (PAST + 100, PAST + 100))
    kept, why = resume.earlier_report(str(folder), str(series),
                                      dict(EXPECTED, model_sha256={"segmentation": "cd" * 32}))
    assert why is None and kept["left"] is None


def test_an_unreadable_report_is_computed_again(tmp_path):
    series, folder = _case(tmp_path)
    (folder / "report.json").write_text("{ cut off")
    kept, why = resume.earlier_report(str(folder), str(series), EXPECTED)
    assert kept is None and why == "its earlier report.json cannot be read"
