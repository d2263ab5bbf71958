"""``nvseg run`` over cohorts: cohort.csv as each case ends, --resume, an interrupted run, a rerun
into a results folder, exit statuses (cli/run.py, cli/case_outputs.py), on the analytic
two-joint CT with hand-made networks (two_joint_ct.py)."""

import csv
import json
import os
import shutil
import signal
import time

import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib import pipeline
from two_joint_ct import one_line_failure as _one_line_failure
from two_joint_ct import run_cli as _run


def test_resume_keeps_finished_cases_and_an_interrupted_run_keeps_its_rows(
        ct_path, tmp_path, patched_models, monkeypatch, capsys):
    """cohort.csv is rewritten as each case ends, so a run interrupted at its second case keeps
    the first case's row; ``--resume`` then keeps what an earlier run finished from the same
    input with the same parameters and networks (not computed again: counted) and computes the
    rest; other parameters or an input changed since are computed again, with the reason."""
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("a", "b"):   # copies: one file under two names would be one case
        shutil.copy(ct_path, str(folder / ("%s.nii.gz" % name)))
    out = tmp_path / "out"
    code, _o, err = _run(capsys, folder / "a.nii.gz", "-o", out)
    assert code == 0, err
    first = json.loads((out / "a" / "report.json").read_text())
    assert first["model_sha256"] == {} and first["models"]["segmentation"] == "hand-made"
    computed, original = [], pipeline.run_case

    def counted(path, *args, **kwargs):
        computed.append(os.path.basename(str(path)))
        if computed[-1] == "b.nii.gz" and interrupt:
            raise KeyboardInterrupt()
        return original(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_case", counted)
    interrupt = True
    code, _o, err = _run(capsys, folder, "-o", out, "--resume")
    assert code == 130 and computed == ["b.nii.gz"], (code, computed, err)
    assert "1 of 2 cases done" in err and "--resume" in err and not (out / "b").exists()
    rows = list(csv.DictReader(open(str(out / "cohort.csv"))))
    assert [r["case"] for r in rows] == ["a"] and rows[0]["status"] == "ok"
    assert float(rows[0]["left_negative_volume_mm3"]) == pytest.approx(
        first["left"]["negative_volume_mm3"], abs=1e-3)
    assert not [p for p in os.listdir(str(out)) if p.startswith(".")]   # no staging left

    interrupt, computed[:] = False, []
    code, stdout, err = _run(capsys, folder, "-o", out, "--resume")
    assert code == 0 and computed == ["b.nii.gz"], err
    assert "a: kept from the earlier run" in err and "a  left" in stdout
    assert "2 cases: 2 measured on both sides, 0 on one side, 0 not measurable, 0 failed" in stdout
    rows = dict((r["case"], r) for r in csv.DictReader(open(str(out / "cohort.csv"))))
    assert sorted(rows) == ["a", "b"] and rows["b"]["status"] == "ok"
    for side in L.SIDES:   # one CT twice: b computed now reads what a read in the first run
        assert float(rows["b"]["%s_negative_volume_mm3" % side]) == pytest.approx(
            first[side]["negative_volume_mm3"], rel=1e-6)
    assert json.loads((out / "a" / "report.json").read_text()) == first

    computed[:] = []
    code, _o, err = _run(capsys, folder / "a.nii.gz", "-o", out, "--resume",
                         "--max-distance", "9")
    assert code == 0 and computed == ["a.nii.gz"], err
    assert "a: computed again: the earlier result was made with other parameters" in err
    later = os.path.getmtime(str(out / "b" / "report.json")) + 10.0
    os.utime(str(folder / "b.nii.gz"), (later, later))   # b's input written again since
    computed[:] = []
    code, _o, err = _run(capsys, folder / "b.nii.gz", "-o", out, "--resume")
    assert code == 0 and computed == ["b.nii.gz"], err
    assert "b: computed again: the input changed after the earlier result was written" in err


def test_a_rerun_that_fails_says_the_earlier_result_is_still_there(ct_path, tmp_path,
                                                                   patched_models, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "pt.nii.gz"
    shutil.copy(ct_path, str(source))
    out = tmp_path / "out"
    assert _run(capsys, source, "-o", out)[0] == 0
    sitk.WriteImage(sitk.Image([40, 40], sitk.sitkInt16), str(source))   # now a 2D image
    code, _o, err = _run(capsys, source, "-o", out)
    _one_line_failure(code, err)
    rows = list(csv.DictReader(open(str(out / "cohort.csv"))))
    assert rows[0]["status"] == "failed" and "2D" in rows[0]["error"]
    assert "%s still holds an earlier run's result" % (out / "pt") in rows[0]["error"]


def test_an_unwritable_progress_file_stops_before_any_case(ct_path, tmp_path, patched_models,
                                                           monkeypatch, capsys):
    computed = []
    monkeypatch.setattr(pipeline, "run_case", lambda *a, **k: computed.append(a))
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out", "--progress-file",
                         tmp_path / "missing" / "progress.jsonl")
    _one_line_failure(code, err)
    assert "cannot write the progress file" in err and computed == []
    assert not (tmp_path / "out").exists()


def test_interrupted_at_the_first_case_names_no_cohort_file(ct_path, tmp_path, patched_models,
                                                           monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt()

    monkeypatch.setattr(pipeline, "run_case", interrupted)
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out" / "deeper")
    assert code == 130
    assert err.strip() == "nvseg: interrupted: 0 of 1 cases done; run it again with --resume to go on"
    # the folders made for the run and left empty go (a review found out/deeper/ left behind);
    # a folder that was there stays
    assert not (tmp_path / "out").exists()
    (tmp_path / "there").mkdir()
    assert _run(capsys, ct_path, "-o", tmp_path / "there")[0] == 130
    assert (tmp_path / "there").is_dir()


def _ctrl_c_turned_into(error):
    """A stand-in for a library call that Ctrl-C interrupts and that turns the KeyboardInterrupt
    into its own error (VTK's module loader: "ImportError: Failed to load vtkIOLegacy ...")."""
    def call(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C: the handler raises here
            time.sleep(5)
        except KeyboardInterrupt:
            raise error
        raise AssertionError("SIGINT did not interrupt")
    return call


def test_ctrl_c_that_a_library_turns_into_its_error_is_an_interruption(
        ct_path, tmp_path, patched_models, monkeypatch, capsys):
    """Found by a review: Ctrl-C during VTK's lazy import read "internal error: ImportError:
    Failed to load vtkIOLegacy" (exit 1), and in a cohort the run would go on to the next case."""
    from NegativeVolumeSegmentationLib import cli

    error = ImportError("Failed to load vtkIOLegacy: No module named vtkmodules.vtkIOCellGrid")
    monkeypatch.setattr(pipeline, "run_case", _ctrl_c_turned_into(error))
    other = tmp_path / "other.nii.gz"
    shutil.copy(str(ct_path), str(other))
    code, _o, err = _run(capsys, ct_path, other, "-o", tmp_path / "out")
    assert code == 130, err
    assert err.strip().splitlines()[-1] == ("nvseg: interrupted: 0 of 2 cases done; run it again "
                                            "with --resume to go on")
    monkeypatch.setattr(pipeline, "measure_labels", _ctrl_c_turned_into(error))
    labels = tmp_path / "labels.nii.gz"
    sitk.WriteImage(sitk.Image([30, 30, 30], sitk.sitkUInt8) + 1, str(labels))
    assert cli.main(["negative-volume", str(labels), "-o", str(tmp_path / "nv")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "nvseg: interrupted"
    assert not (tmp_path / "nv").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # given back


def test_a_bug_in_the_one_case_exits_1_not_2(ct_path, tmp_path, patched_models, monkeypatch,
                                            capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(pipeline, "run_case", broken)
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("nvseg: internal error: ZeroDivisionError: float division by zero")


def test_the_same_input_twice_is_measured_once_and_said(ct_path, tmp_path, patched_models,
                                                        capsys):
    """Before: a second path to the same file (a link) was dropped without a word."""
    link = tmp_path / "again.nii.gz"
    os.symlink(str(ct_path), str(link))
    code, _, err = _run(capsys, ct_path, link, "-o", tmp_path / "out", "--device", "cpu")
    assert code == 0, err
    assert "nvseg: %s: the same input as %s; measured once" % (link, ct_path) in err
    with open(str(tmp_path / "out" / "cohort.csv")) as handle:
        assert [row["case"] for row in csv.DictReader(handle)] == ["twojoints"]
