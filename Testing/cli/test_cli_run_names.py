"""``nvseg run`` over a cohort that grows: case names told apart the same way whatever the
inputs' order, a case's folder found again by its input, cohort.csv listing every result in the
output folder, names that cannot leave it, SIGTERM and a full disk (io/case_names.py,
cli/case_outputs.py, cli/run.py, io/results_folder.py), on the analytic two-joint CT with
hand-made networks (two_joint_ct.py).

Found by a review of cohort scripting (2026-12-07): siteA/p01 and siteB/p01 were named p01 and
p01_2 by their order, so reversing it with --resume computed siteA/p01 again into p01_2_2;
b.nii.gz beside b.nrrd and b_2.nrrd named b.nrrd "b_2"; a run of one more scan into a cohort's
folder rewrote cohort.csv with that one row; an input named ``..nrrd`` wrote its results into the
output folder's parent; SIGTERM left 45 MB of staged files; a full disk read "internal error"
(exit 1) after VTK's own coloured log line.
"""

import csv
import errno
import os
import shutil
import signal

import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import pipeline
from NegativeVolumeSegmentationLib.io import results_folder
from NegativeVolumeSegmentationLib.io.case_names import case_name, case_names
from two_joint_ct import one_line_failure as _one_line_failure
from two_joint_ct import run_cli as _run


def _rows(out):
    return [r["case"] for r in csv.DictReader(open(str(out / "cohort.csv")))]


def test_names_are_told_apart_by_folder_or_ending_whatever_the_order(tmp_path):
    for names in (["siteA/p01.nii.gz", "siteB/p01.nii.gz"],
                  ["siteB/p01.nii.gz", "siteA/p01.nii.gz"]):
        named = dict(zip(names, case_names([str(tmp_path / n) for n in names])))
        assert named == {"siteA/p01.nii.gz": "siteA_p01", "siteB/p01.nii.gz": "siteB_p01"}
    paths = [str(tmp_path / "in" / n) for n in ("b.nii.gz", "b.nrrd", "b_2.nrrd")]
    assert case_names(paths) == ["b_nii_gz", "b_nrrd", "b_2"]    # "b_2" stays the file b_2's
    assert case_names([str(tmp_path / "in" / n) for n in ("A.nii", "a.nrrd")]) == ["A_nii",
                                                                                   "a_nrrd"]
    assert case_names([str(tmp_path / p / "ct.nrrd") for p in ("pat01", "pat02")]) == [
        "pat01_ct", "pat02_ct"]
    assert case_names([str(tmp_path / "x" / "p.nrrd"), str(tmp_path / "x" / "p.nrrd")]) == [
        "p", "p_2"]
    deep = [str(tmp_path / "x" / "a" / "s" / "p01.nii.gz"),
            str(tmp_path / "y" / "s" / "p01.nii.gz")]
    assert case_names(deep) == ["a_s_p01", "y_s_p01"]
    # an input named as another's told-apart name: the plain one keeps it, in any order
    named = ["siteA_p01.nii.gz", "siteA/p01.nii.gz", "siteB/p01.nii.gz"]
    for order in (named, named[::-1], named[1:] + named[:1]):
        got = dict(zip(order, case_names([str(tmp_path / n) for n in order])))
        assert got == {"siteA_p01.nii.gz": "siteA_p01", "siteA/p01.nii.gz": "siteA_p01_2",
                       "siteB/p01.nii.gz": "siteB_p01"}, order
    # a folder name too long to prefix: cut, kept apart by a digest of the path
    long = [str(tmp_path / ("a" * 120) / ("p" * 150 + ".nrrd")),
            str(tmp_path / "b" / ("p" * 150 + ".nrrd"))]
    got = case_names(long)
    assert len(set(got)) == 2 and all(len(n.encode()) <= 200 for n in got)
    assert got[1] == "b_" + "p" * 150
    # names that would leave the output folder, hide, or break a line
    assert case_name("/d/..nrrd") == "case" and case_name("/d/.nii.gz") == "nii.gz"
    assert case_name("/d/.hidden.nrrd") == "hidden" and case_name("/d/a\nb.nrrd") == "a_b"


def test_a_case_keeps_its_folder_when_the_cohort_grows_or_is_reordered(ct_path, tmp_path,
                                                                       patched_models,
                                                                       monkeypatch, capsys):
    for site in ("siteA", "siteB"):
        (tmp_path / site).mkdir()
        shutil.copy(ct_path, str(tmp_path / site / "p01.nii.gz"))
    out = tmp_path / "out"
    code, _o, err = _run(capsys, tmp_path / "siteA", "-o", out)
    assert code == 0, err
    assert sorted(os.listdir(str(out))) == ["cohort.csv", "p01"]
    computed, original = [], pipeline.run_case

    def counted(path, *args, **kwargs):
        computed.append(os.path.relpath(str(path), str(tmp_path)))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_case", counted)
    code, _o, err = _run(capsys, tmp_path / "siteB", tmp_path / "siteA", "-o", out, "--resume")
    assert code == 0 and computed == [os.path.join("siteB", "p01.nii.gz")], err
    assert "case siteB_p01 (another input is also named p01)" in err
    assert "siteA_p01: its earlier result is in %s (case p01)" % (out / "p01") in err
    assert "p01: kept from the earlier run in %s" % (out / "p01") in err
    assert sorted(os.listdir(str(out))) == ["cohort.csv", "p01", "siteB_p01"]
    rows = dict((r["case"], r) for r in csv.DictReader(open(str(out / "cohort.csv"))))
    assert rows["p01"]["input"] == str(tmp_path / "siteA" / "p01.nii.gz")
    assert rows["siteB_p01"]["input"] == str(tmp_path / "siteB" / "p01.nii.gz")
    computed[:] = []   # the other order: nothing computed, nothing new
    code, _o, err = _run(capsys, tmp_path / "siteA", tmp_path / "siteB", "-o", out, "--resume")
    assert code == 0 and computed == [], err
    assert sorted(os.listdir(str(out))) == ["cohort.csv", "p01", "siteB_p01"]
    # without --resume, a cohort computed again is said
    code, _o, err = _run(capsys, tmp_path / "siteA", tmp_path / "siteB", "-o", out)
    assert code == 0 and "2 of 2 case(s) have results in %s from an earlier run" % out in err


def test_cohort_csv_lists_the_earlier_results_a_later_run_did_not_touch(ct_path, tmp_path,
                                                                       patched_models, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(ct_path, str(folder / ("%s.nii.gz" % name)))
    out = tmp_path / "out"
    assert _run(capsys, folder / "a.nii.gz", "-o", out)[0] == 0
    code, _o, err = _run(capsys, folder / "b.nii.gz", "-o", out)
    assert code == 0 and _rows(out) == ["b", "a"], err
    assert "cohort.csv also lists 1 case(s) an earlier run wrote into %s" % out in err
    sitk.WriteImage(sitk.Image([40, 40], sitk.sitkInt16), str(folder / "c.nii.gz"))   # 2D
    code, _o, err = _run(capsys, folder / "c.nii.gz", "-o", out)
    _one_line_failure(code, err)
    rows = list(csv.DictReader(open(str(out / "cohort.csv"))))
    assert [(r["case"], r["status"]) for r in rows] == [("c", "failed"), ("a", "ok"), ("b", "ok")]
    assert rows[1]["input"] == str(folder / "a.nii.gz") and rows[1]["left_negative_volume_mm3"]


def test_names_never_leave_the_output_folder(ct_path, tmp_path, patched_models, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("..nii.gz", "cohort.csv.nii.gz"):
        shutil.copy(ct_path, str(folder / name))
    out = tmp_path / "box" / "out"
    code, _o, err = _run(capsys, folder / "..nii.gz", folder / "cohort.csv.nii.gz", "-o", out)
    assert code == 0, err
    assert sorted(os.listdir(str(tmp_path / "box"))) == ["out"]
    assert sorted(os.listdir(str(out))) == ["case", "cohort.csv", "cohort.csv_2"]
    assert os.path.isfile(str(out / "cohort.csv")) and _rows(out) == ["case", "cohort.csv_2"]


def test_sigterm_ends_a_run_as_ctrl_c_does(ct_path, tmp_path, patched_models, monkeypatch,
                                           capsys):
    """SIGTERM (timeout, kill, a batch system's time limit) mid-case: exit 143 with how far the
    run got, the case's staged files removed (before: killed at once, 45 MB left)."""
    original = pipeline.run_case

    def terminated(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(pipeline, "run_case", terminated)
    out = tmp_path / "out"
    code, _o, err = _run(capsys, ct_path, "-o", out)
    assert code == 128 + signal.SIGTERM and "nvseg: interrupted: 0 of 1 cases done" in err
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL   # main's handler removed


def test_a_full_disk_is_one_line_exit_2_not_a_bug(ct_path, tmp_path, patched_models,
                                                  monkeypatch, capsys):
    """ITK's writers give no errno: a write that fails with under 64 MB free is a full disk
    (before: "internal error: OSError", exit 1); the staged files go."""
    from NegativeVolumeSegmentationLib.io import segmentation_files

    def failing(*args, **kwargs):
        raise RuntimeError("Exception thrown in SimpleITK ImageFileWriter_Execute: could not "
                           "write")

    monkeypatch.setattr(segmentation_files, "write_label_image", failing)
    usage = shutil.disk_usage(str(tmp_path))
    monkeypatch.setattr(results_folder.shutil, "disk_usage",
                        lambda path: usage._replace(free=1024 * 1024))
    out = tmp_path / "out"
    code, _o, err = _run(capsys, ct_path, "-o", out)
    _one_line_failure(code, err)
    assert "cannot write %s: no space left on device" % (out / "twojoints") in err
    assert not (out / "twojoints").exists()


_FULL_DISK = """
import sys
sys.path.insert(0, sys.argv[1])
from vtkmodules.vtkFiltersSources import vtkSphereSource
from NegativeVolumeSegmentationLib.io import results_folder
sphere = vtkSphereSource()
sphere.SetThetaResolution(300)
sphere.SetPhiResolution(300)
sphere.Update()
try:
    results_folder.write_mesh(sphere.GetOutput(), sys.argv[2])
except OSError as error:
    print("errno", error.errno)
"""


def test_a_mesh_written_to_a_full_disk_says_no_space_and_nothing_on_stderr(tmp_path):
    """A 64 kB file system (tmpfs, mounted in a mount namespace of its own: Linux, as root)
    filled by a 1 MB mesh: OSError with errno ENOSPC, VTK's own log line kept off stderr."""
    import subprocess
    import sys

    unshare, full = shutil.which("unshare"), tmp_path / "full"
    if unshare is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs unshare and root to mount a small file system")
    full.mkdir()
    script = tmp_path / "write.py"
    script.write_text(_FULL_DISK)
    lib = os.path.dirname(os.path.dirname(os.path.abspath(results_folder.__file__)))
    done = subprocess.run([unshare, "-m", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0" '
                           '&& exec "$1" "$2" "$3" "$0/mesh.vtk"', str(full), sys.executable,
                           str(script), os.path.dirname(lib)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
    assert done.returncode == 0 and done.stdout.strip() == "errno %d" % errno.ENOSPC, done
    assert done.stderr == ""


def test_cohort_csv_lists_only_results_made_alike_and_readable(ct_path, tmp_path, patched_models,
                                                             capsys):
    """Rows of earlier results made with other parameters are left out of cohort.csv (the same
    scan read 143.6 against 1162.7 mm3 in one table), and so are report.json files that are cut
    short or hand-edited (one ended the whole run as an internal error); each said in one line;
    an earlier row whose input is gone is counted."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        shutil.copy(ct_path, str(folder / ("%s.nii.gz" % name)))
    out = tmp_path / "out"
    assert _run(capsys, folder, "-o", out)[0] == 0
    report = out / "c" / "report.json"
    report.write_text(report.read_text().replace('"negative_volume_mm3": ',
                                                 '"negative_volume_mm3": "x", "was": '))
    (out / "d" / "report.json").write_text('{"trunc')
    os.remove(str(folder / "b.nii.gz"))
    code, _o, err = _run(capsys, folder / "a.nii.gz", "-o", out, "--max-distance", "5")
    assert code == 0 and _rows(out) == ["a"], err
    assert "cohort.csv leaves out 1 earlier result(s) in %s made with another version, other " \
           "parameters or other models: b" % out in err
    assert "cohort.csv leaves out %s, %s: report.json not readable" % (out / "c", out / "d") in err
    code, _o, err = _run(capsys, folder / "a.nii.gz", "-o", out)
    assert code == 0 and _rows(out) == ["a", "b"], err
    assert "also lists 1 case(s) an earlier run wrote into %s (1 of their inputs no longer " \
           "there)" % out in err


def test_the_same_input_by_another_path_or_a_folder_named_otherwise_in_case(
        ct_path, tmp_path, patched_models, monkeypatch, capsys):
    (tmp_path / "real").mkdir()
    shutil.copy(ct_path, str(tmp_path / "real" / "p01.nii.gz"))
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    out = tmp_path / "out"
    assert _run(capsys, tmp_path / "link" / "p01.nii.gz", "-o", out)[0] == 0
    computed, original = [], pipeline.run_case
    monkeypatch.setattr(pipeline, "run_case", lambda *a, **k: computed.append(a))
    code, _o, err = _run(capsys, tmp_path / "real" / "p01.nii.gz", "-o", out, "--resume")
    assert code == 0 and computed == [] and "p01: kept from the earlier run" in err, err
    assert sorted(os.listdir(str(out))) == ["cohort.csv", "p01"]
    monkeypatch.setattr(pipeline, "run_case", original)
    (tmp_path / "c1").mkdir()
    shutil.copy(ct_path, str(tmp_path / "c1" / "P01.nii.gz"))   # another scan named P01
    code, _o, err = _run(capsys, tmp_path / "c1" / "P01.nii.gz", "-o", out)
    assert code == 0 and "P01: written to %s (%s holds another case)" % (
        out / "P01_2", out / "p01") in err
    assert sorted(_rows(out)) == ["P01_2", "p01"]


def test_a_path_that_is_not_utf8_fails_its_case_only(ct_path, tmp_path, patched_models, capsys):
    """SimpleITK / GDCM abort the whole process (rc 134) on a path with bytes that are not
    UTF-8: that case fails with the reason, the others are measured."""
    folder = tmp_path / "in"
    bad = os.path.join(str(folder), b"\xffsite".decode("utf-8", "surrogateescape"))
    try:
        os.makedirs(bad)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system does not store such names")
    shutil.copy(ct_path, os.path.join(bad, "p01.nii.gz"))
    shutil.copy(ct_path, str(folder / "a.nii.gz"))
    out = tmp_path / "out"
    code, _o, err = _run(capsys, folder, "-o", out)
    assert code == 0, err
    rows = dict((r["case"], r) for r in csv.DictReader(open(str(out / "cohort.csv"),
                                                            encoding="utf-8")))
    assert rows["a"]["status"] == "ok"
    assert rows["_site"]["status"] == "failed" and "not valid UTF-8" in rows["_site"]["error"]
