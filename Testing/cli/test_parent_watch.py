"""``nvseg compute --parent-pid``: a background run stops, and removes its temporary folder, when
the process that started it (Slicer) ends — a crash or a kill, not a Cancel (cli/parent_watch.py).

Whether a process is gone is judged here independently of the code under test (``os.kill(pid,
0)`` and the /proc state; a zombie runs no code).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.cli import parent_watch
from process_state import dead

REPO_LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "NegativeVolumeSegmentation")
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def _wait(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _compute(*args):
    env = dict(os.environ, PYTHONPATH=REPO_LIB)
    return subprocess.run([sys.executable, "-m", "NegativeVolumeSegmentationLib.cli", "compute"]
                          + [str(a) for a in args], capture_output=True, text=True, env=env,
                          timeout=300)


def _ended_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _small_ct(path):
    image = sitk.GetImageFromArray(np.full((8, 8, 8), -1000, np.int16))
    sitk.WriteImage(image, str(path))


def test_a_run_whose_parent_has_ended_stops_at_once_and_removes_its_folder(tmp_path):
    pid = _ended_pid()
    folder = tmp_path / (parent_watch.temp_prefix(pid) + "abc")
    folder.mkdir()
    _small_ct(folder / "input.nrrd")
    done = _compute(folder / "input.nrrd", "-o", folder / "out", "--parent-pid", pid,
                    "--temp-dir", folder)
    assert done.returncode == 130, done.stderr
    assert not folder.exists()
    lines = done.stderr.strip().splitlines()
    assert lines == ["nvseg: the process that started this run (pid %d) has ended; stopped, "
                     "nothing written" % pid]


def test_a_temp_dir_not_made_for_the_parent_is_refused_and_kept(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    _small_ct(tmp_path / "input.nrrd")
    done = _compute(tmp_path / "input.nrrd", "-o", tmp_path / "out",
                    "--parent-pid", _ended_pid(), "--temp-dir", tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "only a folder made for the parent process" in done.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
    done = _compute(tmp_path / "input.nrrd", "-o", tmp_path / "out", "--temp-dir", tmp_path)
    assert done.returncode == 2 and "give --parent-pid too" in done.stderr
    assert (tmp_path / "keep.txt").is_file() and not (tmp_path / "out").exists()


PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    root, lib, ct = sys.argv[1], sys.argv[2], sys.argv[3]
    folder = os.path.join(root, "nvseg-slicer-%d-run" % os.getpid())   # as the module names it
    os.mkdir(folder)
    child = subprocess.Popen(
        [sys.executable, "-m", "NegativeVolumeSegmentationLib.cli", "compute", ct,
         "-o", os.path.join(folder, "out"), "--options", '{"device": "cpu"}',
         "--progress-file", os.path.join(folder, "progress.jsonl"),
         "--parent-pid", str(os.getpid()), "--temp-dir", folder],
        env=dict(os.environ, PYTHONPATH=lib), start_new_session=True,
        stderr=subprocess.DEVNULL)
    with open(os.path.join(root, "child.pid.tmp"), "w") as handle:
        handle.write(str(child.pid))
    os.replace(os.path.join(root, "child.pid.tmp"), os.path.join(root, "child.pid"))
    time.sleep(600)
""")


@posix_only
def test_a_run_stops_when_its_parent_is_killed_midway(tmp_path, real_head_ct_path):
    """The real head takes ~12 s; the parent is killed once the networks run ("segment")."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), REPO_LIB,
                               real_head_ct_path])
    folder = tmp_path / (parent_watch.temp_prefix(parent.pid) + "run")
    pid_file = tmp_path / "child.pid"
    try:
        _wait(pid_file.exists, 60, "the parent did not start its child")
        child = int(pid_file.read_text())

        def segmenting():
            path = folder / "progress.jsonl"
            return path.exists() and any(json.loads(line)["stage"] == "segment"
                                         for line in path.read_text().splitlines() if line)

        _wait(segmenting, 120, "the child never reached the networks")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait(lambda: dead(child), 30, "the child ran on after its parent was killed")
        assert not folder.exists()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if pid_file.exists() and not dead(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


class _Kernel32(object):
    """Windows' OpenProcess / WaitForSingleObject as the watch calls them."""

    def __init__(self, handle, waits):
        self.handle, self.waits, self.calls = handle, list(waits), []

    def OpenProcess(self, access, inherit, pid):  # noqa: N802 (the Win32 name)
        self.calls.append(("open", access, pid))
        return self.handle

    def WaitForSingleObject(self, handle, timeout):  # noqa: N802
        self.calls.append(("wait", handle, timeout))
        return self.waits.pop(0)


def test_windows_waits_on_the_process_handle_and_never_signals_it(monkeypatch):
    def no_kill(*args):
        raise AssertionError("os.kill on Windows would terminate the process")

    monkeypatch.setattr(os, "kill", no_kill)
    kernel32 = _Kernel32(handle=77, waits=[0x102, 0x102, 0])   # timeout, timeout, signalled
    alive = parent_watch._windows_liveness(4242, kernel32, last_error=lambda: 0)
    assert [alive(), alive(), alive()] == [True, True, False]
    assert kernel32.calls[0] == ("open", 0x00100000, 4242)   # SYNCHRONIZE only
    assert all(call[1:] == (77, 0) for call in kernel32.calls[1:])
    gone = parent_watch._windows_liveness(4242, _Kernel32(0, []), last_error=lambda: 87)
    assert gone() is False   # ERROR_INVALID_PARAMETER: no such process
    assert parent_watch._windows_liveness(4242, _Kernel32(0, []), last_error=lambda: 5) is None


def test_the_watch_thread_ends_the_run_when_the_parent_ends(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    folder = tmp_path / (parent_watch.temp_prefix(sleeper.pid) + "x")
    folder.mkdir()
    (folder / "input.nrrd").write_bytes(b"CT")
    ended = []
    try:
        thread = parent_watch.watch(sleeper.pid, str(folder), poll_s=0.05,
                                    end=lambda: ended.append(True))
        time.sleep(0.3)
        assert thread.is_alive() and not ended and folder.exists()
        sleeper.kill()
        sleeper.wait()
        thread.join(timeout=30)
        assert ended == [True] and not folder.exists()
    finally:
        sleeper.kill()
