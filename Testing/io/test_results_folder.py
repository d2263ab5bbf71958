"""All-or-nothing result folders and the CLI's one-line errors."""

import os
import stat

import pytest

from NegativeVolumeSegmentationLib import cli
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io import results_folder
from NegativeVolumeSegmentationLib.io.results_folder import check_writable, staged_output


def test_staged_output_moves_files_on_success(tmp_path):
    out = tmp_path / "result"
    with staged_output(str(out)) as stage:
        with open(os.path.join(stage, "a.txt"), "w") as f:
            f.write("x")
        os.makedirs(os.path.join(stage, "meshes"))
        with open(os.path.join(stage, "meshes", "b.txt"), "w") as f:
            f.write("y")
        # nothing is visible in the result folder before the block ends
        assert sorted(p for p in os.listdir(str(out)) if not p.startswith(".nvseg-partial-")) == []
    assert (out / "a.txt").read_text() == "x"
    assert (out / "meshes" / "b.txt").read_text() == "y"
    assert [p for p in os.listdir(str(out)) if p.startswith(".nvseg")] == []


def test_staged_output_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(RuntimeError):
        with staged_output(str(out)) as stage:
            with open(os.path.join(stage, "report.json"), "w") as f:
                f.write("{")
            raise RuntimeError("stage failed")
    assert not out.exists()   # made for this write: it goes too (it was left empty)
    out.mkdir()   # a folder that was there stays, as it was
    with pytest.raises(KeyboardInterrupt):   # Ctrl-C alike
        with staged_output(str(out)) as stage:
            with open(os.path.join(stage, "report.json"), "w") as f:
                f.write("{")
            raise KeyboardInterrupt
    assert os.listdir(str(out)) == []


def _earlier_result(folder):
    folder.mkdir()
    for name in ("report.json", "labels.nii.gz", "left_condyle.vtk", "right_negative_volume.vtk",
                 "report.png", "notes.txt"):
        (folder / name).write_text("earlier " + name)


def test_a_new_result_replaces_every_file_of_the_earlier_one(tmp_path):
    """A second run into a case folder whose result has fewer files (a side now not measured:
    no meshes, no figure): none of the earlier result's files stays beside it; the user's own
    file does."""
    folder = tmp_path / "case"
    _earlier_result(folder)
    assert results_folder.result_files(str(folder)) == [
        "labels.nii.gz", "left_condyle.vtk", "report.json", "report.png",
        "right_negative_volume.vtk"]
    with staged_output(str(folder), replaces=results_folder.result_files(str(folder))) as stage:
        for name in ("report.json", "labels.nii.gz"):
            with open(os.path.join(stage, name), "w") as handle:
                handle.write("new " + name)
    assert sorted(os.listdir(str(folder))) == ["labels.nii.gz", "notes.txt", "report.json"]
    assert (folder / "report.json").read_text() == "new report.json"
    assert (folder / "notes.txt").read_text() == "earlier notes.txt"


def test_an_interrupted_move_leaves_no_report_json(tmp_path, monkeypatch):
    """Interrupted while the staged files are moved in (Ctrl-C, the Slicer panel's Cancel):
    the earlier report.json went first and the new one comes last, so the folder holds no
    report.json that its other files do not belong to (``nvseg run --resume`` keeps only
    folders with one)."""
    folder = tmp_path / "case"
    _earlier_result(folder)
    moved, replace = [], os.replace

    def interrupted(source, target):
        if len(moved) == 2:
            raise KeyboardInterrupt()
        moved.append(os.path.basename(target))
        replace(source, target)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with staged_output(str(folder), replaces=results_folder.result_files(str(folder))) as st:
            for name in ("report.json", "a_labels.nii.gz", "b.vtk", "c.png"):
                with open(os.path.join(st, name), "w") as handle:
                    handle.write("new")
    assert "report.json" not in moved and len(moved) == 2
    assert not (folder / "report.json").exists()
    assert [p for p in os.listdir(str(folder)) if p.startswith(".nvseg")] == []


def test_output_path_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        check_writable(str(f))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder_is_rejected(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InputError, match="not writable"):
        check_writable(str(ro))


def test_cli_turns_input_errors_into_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    # `phantom` into a path that is a file: a user error, one line, exit 2
    status = cli.main(["phantom", str(target), "--kind", "analytic"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("nvseg: ") and err.count("\n") == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_unwritable_location_is_rejected_even_for_root(tmp_path):
    # /proc refuses new folders for every user, root included
    with pytest.raises(InputError, match="output folder"):
        with staged_output("/proc/self/nvseg-out"):
            pass


def test_a_killed_runs_staging_folder_is_removed_later(tmp_path):
    """A run killed (SIGKILL) while staging leaves a hidden folder no ``finally`` removed; the
    next write into the folder removes it once it is a day old, and leaves a fresh one (a run
    going on beside) alone."""
    out = tmp_path / "out"
    old, fresh = out / ".nvseg-partial-killed", out / ".nvseg-partial-running"
    for stage in (old, fresh):
        stage.mkdir(parents=True)
        (stage / "labels.nii.gz").write_text("half")
    two_days = os.path.getmtime(str(old)) - 2 * 24 * 3600
    os.utime(str(old), (two_days, two_days))
    with staged_output(str(out)) as stage:
        with open(os.path.join(stage, "report.json"), "w") as handle:
            handle.write("{}")
    assert not old.exists() and fresh.exists() and (out / "report.json").exists()


@pytest.mark.skipif(os.name != "posix", reason="a process's liveness is asked with signal 0")
def test_a_killed_runs_staging_folder_on_this_host_is_removed_at_once(tmp_path):
    """A run killed while staging left its 46 MB staging folder in the case folder for a day;
    a stage named for a process of this host that has ended goes with the next write, one of
    a live process (this one) or of another host stays."""
    import subprocess
    import sys

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    owner = results_folder._stage_owner()
    host = owner.split("-")[0]
    out = tmp_path / "out"
    dead = out / (".nvseg-partial-%s-%d-abc" % (host, ended.pid))
    alive = out / (".nvseg-partial-%s-%d-def" % (host, os.getpid()))
    other_host = out / (".nvseg-partial-%s-%d-ghi" % ("0" * 8 if host != "0" * 8 else "1" * 8,
                                                      ended.pid))
    for stage in (dead, alive, other_host):
        stage.mkdir(parents=True)
    with staged_output(str(out)) as stage:
        assert os.path.basename(stage).startswith(".nvseg-partial-" + owner)
        with open(os.path.join(stage, "report.json"), "w") as handle:
            handle.write("{}")
    assert not dead.exists() and alive.exists() and other_host.exists()
