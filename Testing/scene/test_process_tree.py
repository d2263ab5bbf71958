"""process_tree: Cancel ends the whole background process tree, as under Slicer's PythonSlicer
launcher (which starts python-real as its child).

A launcher-like Python parent starts Python children: one that stays in the parent's process
group and one that escapes it (``os.setsid()``) and starts a grandchild of its own. Every process
writes its pid into a file once it is set up, then sleeps. After kill_process_tree on the parent
none of them may be alive (checked by the test itself with ``os.kill(pid, 0)`` and the process
state in /proc or ps: a zombie runs no code), while a sleeping bystander started beside them
survives.
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from NegativeVolumeSegmentationLib.scene import process_tree
from process_state import dead

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")

CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    folder, role = sys.argv[1], sys.argv[2]
    if role == "escaped":
        os.setsid()  # leaves the launcher's process group and session
        subprocess.Popen([sys.executable, __file__, folder, "grandchild"])
    with open(os.path.join(folder, role + ".pid.tmp"), "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(os.path.join(folder, role + ".pid.tmp"), os.path.join(folder, role + ".pid"))
    time.sleep(300)
""")

LAUNCHER = textwrap.dedent("""
    import os, subprocess, sys, time
    folder, child, roles, then = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
    for role in roles:
        subprocess.Popen([sys.executable, child, folder, role])
    with open(os.path.join(folder, "launcher.pid.tmp"), "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(os.path.join(folder, "launcher.pid.tmp"), os.path.join(folder, "launcher.pid"))
    if then == "sleep":
        time.sleep(300)
""")


def _wait_for_pids(folder, roles, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    pids = {}
    while len(pids) < len(roles):
        assert time.monotonic() < deadline, "processes did not start: %s of %s" % (
            sorted(pids), roles)
        for role in roles:
            path = os.path.join(folder, role + ".pid")
            if role not in pids and os.path.exists(path):
                with open(path) as handle:
                    pids[role] = int(handle.read())
        time.sleep(0.05)
    return pids


def _start_launcher(tmp_path, roles, then="sleep"):
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    return subprocess.Popen([sys.executable, str(tmp_path / "launcher.py"), str(tmp_path),
                             str(tmp_path / "child.py"), ",".join(roles), then],
                            **process_tree.popen_kwargs())


@pytest.fixture
def bystander():
    """A sleeping process beside the tree (its own session): it must survive."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                               **process_tree.popen_kwargs())
    yield process
    process.kill()
    process.wait()


@posix_only
def test_kill_process_tree_ends_the_launcher_its_group_and_escaped_children(tmp_path, bystander):
    launcher = _start_launcher(tmp_path, ["in_group", "escaped"])
    pids = _wait_for_pids(str(tmp_path), ["launcher", "in_group", "escaped", "grandchild"])
    all_pids = sorted(pids.values())
    try:
        assert pids["launcher"] == launcher.pid
        # the set-up is what it claims: the launcher leads a group of its own, one child is in
        # it, the other child and its grandchild are not
        assert os.getpgid(launcher.pid) == launcher.pid != os.getpgrp()
        assert os.getpgid(pids["in_group"]) == launcher.pid
        assert os.getpgid(pids["escaped"]) == pids["escaped"] != launcher.pid
        assert os.getpgid(pids["grandchild"]) == pids["escaped"]
        assert not any(dead(pid) for pid in all_pids)

        left = process_tree.kill_process_tree(launcher, timeout_s=10)
        assert left == []
        alive = [role for role, pid in pids.items() if not dead(pid)]
        assert alive == [], "still running after kill_process_tree: %s" % alive
        assert launcher.returncode == -9  # reaped: SIGKILL
        assert bystander.poll() is None and not dead(bystander.pid)
    finally:
        for pid in all_pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        launcher.wait()


@posix_only
def test_killing_only_the_launcher_would_leave_the_children_running(tmp_path):
    """Why the module exists: SIGKILL to the launcher alone (what Popen.kill does) leaves its
    child computing, in and out of its group."""
    launcher = _start_launcher(tmp_path, ["in_group", "escaped"])
    pids = _wait_for_pids(str(tmp_path), ["launcher", "in_group", "escaped", "grandchild"])
    try:
        launcher.kill()
        launcher.wait()
        time.sleep(0.2)
        assert dead(launcher.pid)
        assert not dead(pids["in_group"]) and not dead(pids["escaped"])
    finally:
        for pid in pids.values():
            try:
                os.kill(pid, 9)
            except OSError:
                pass


@posix_only
def test_a_launcher_that_already_exited_still_has_its_group_ended(tmp_path, bystander):
    """The launcher ended (and was reaped) while its child in its group runs on: the group kill
    ends the child."""
    launcher = _start_launcher(tmp_path, ["in_group"], then="exit")
    pids = _wait_for_pids(str(tmp_path), ["launcher", "in_group"])
    launcher.wait(timeout=30)
    try:
        assert not dead(pids["in_group"])
        assert os.getpgid(pids["in_group"]) == launcher.pid
        assert process_tree.kill_process_tree(launcher, timeout_s=10) == []
        assert dead(pids["in_group"])
        assert bystander.poll() is None
    finally:
        try:
            os.kill(pids["in_group"], 9)
        except OSError:
            pass


@posix_only
def test_kill_by_pid_and_of_a_finished_process(tmp_path):
    quick = subprocess.Popen([sys.executable, "-c", "pass"], **process_tree.popen_kwargs())
    quick.wait()
    start = time.monotonic()
    assert process_tree.kill_process_tree(quick, timeout_s=5) == []
    assert time.monotonic() - start < 2.0
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                               **process_tree.popen_kwargs())
    try:
        assert process_tree.kill_process_tree(sleeper.pid, timeout_s=10) == []
        assert sleeper.wait(timeout=5) == -9
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


@posix_only
def test_process_table_knows_parent_and_group(tmp_path):
    table = process_tree.process_table()
    assert table[os.getpid()][:2] == (os.getppid(), os.getpgrp())


def test_popen_kwargs_per_platform(monkeypatch):
    monkeypatch.setattr(process_tree, "_WINDOWS", False)
    assert process_tree.popen_kwargs() == {"start_new_session": True}
    monkeypatch.setattr(process_tree, "_WINDOWS", True)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NO_WINDOW", 0x08000000, raising=False)
    assert process_tree.popen_kwargs() == {"creationflags": 0x08000200}


def test_windows_kills_the_tree_with_taskkill(monkeypatch):
    """On Windows the tree goes through ``taskkill /F /T /PID`` (no window), then the launcher
    is waited for."""
    calls = []

    class FakePopen(object):
        pid = 4321

        def kill(self):
            calls.append("kill")

        def wait(self, timeout=None):
            calls.append("wait")
            return 1

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs.get("creationflags")))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(process_tree, "_WINDOWS", True)
    monkeypatch.setattr(subprocess, "CREATE_NO_WINDOW", 0x08000000, raising=False)
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert process_tree.kill_process_tree(FakePopen(), timeout_s=3) == []
    assert calls == [(["taskkill", "/F", "/T", "/PID", "4321"], 0x08000000), "kill", "wait"]
