"""Start a child process in its own process group and end it together with all its descendants.

Inside 3D Slicer the background run starts ``PythonSlicer``, a CTK application launcher that
sets up the environment and starts ``python-real`` as its own child. Killing the launcher alone
leaves ``python-real`` running (on Windows always; on Linux and macOS whenever the child is not
in the launcher's process group), still computing and holding files open. So:

- :func:`popen_kwargs` gives the ``subprocess.Popen`` keyword arguments that put the child in a
  new process group (POSIX: a new session, ``start_new_session=True``; Windows:
  ``CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW``, no console window either);
- :func:`kill_process_tree` ends the child and every descendant. POSIX: the tree is found from
  the process table (``/proc`` on Linux, ``ps -A -o pid=,ppid=,pgid=,stat=`` elsewhere),
  frozen with SIGSTOP so that nothing forks meanwhile, then the process group gets SIGKILL and
  so does every descendant that left the group (``setsid``/``setpgid``). Windows:
  ``taskkill /F /T /PID``. It returns when every process of the tree is gone (a zombie counts as
  gone: it runs no code and holds no file).

Standard library only (Slicer does not bundle psutil).
"""

import os
import signal
import subprocess
import time

_WINDOWS = os.name == "nt"
_POLL_S = 0.02


def popen_kwargs():
    """Keyword arguments for ``subprocess.Popen`` that start the child in its own process group
    (and, on POSIX, its own session), so that :func:`kill_process_tree` can end all of it
    without touching the caller's group."""
    if _WINDOWS:
        flags = (getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200)
                 | getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000))
        return {"creationflags": flags}
    return {"start_new_session": True}


def kill_process_tree(process, timeout_s=10):
    """End ``process`` (a ``subprocess.Popen`` or a pid) and all its descendants.

    Returns the pids of the tree still alive after ``timeout_s`` seconds: an empty list means
    everything is gone. Never raises for processes that already ended or that it may not
    signal. A ``Popen`` is reaped (its ``returncode`` set).
    """
    pid = process if isinstance(process, int) else process.pid
    popen = None if isinstance(process, int) else process
    deadline = time.monotonic() + timeout_s
    if _WINDOWS:
        return _kill_windows(pid, popen, deadline)
    return _kill_posix(pid, popen, deadline)


# ----------------------------------------------------------------------------- POSIX
def process_table():
    """{pid: (ppid, pgid, sid or None, state letter)} of every process visible to this user."""
    if os.path.isdir("/proc/self") and os.path.exists("/proc/self/stat"):
        return _proc_table()
    return _ps_table()


def _proc_table():
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        entry = _proc_stat(int(name))
        if entry is not None:
            table[int(name)] = entry
    return table


def proc_stat_fields(pid):
    """The fields of /proc/<pid>/stat after ``pid (comm)`` (state, ppid, pgrp, session, ...,
    starttime at index 19), or None when the process is gone or there is no /proc."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()   # comm may hold spaces and parentheses


def _proc_stat(pid):
    """(ppid, pgid, sid, state) from /proc/<pid>/stat, or None when the process is gone."""
    fields = proc_stat_fields(pid)
    if fields is None:
        return None
    try:
        return int(fields[1]), int(fields[2]), int(fields[3]), fields[0]
    except (IndexError, ValueError):
        return None


def _ps_table():
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat="], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0].isdigit():
            table[int(fields[0])] = (int(fields[1]), int(fields[2]), None, fields[3][:1])
    return table


def _gone(entry):
    return entry is None or entry[3] in ("Z", "X", "x")


def _descendants(roots, table):
    """Pids whose parent chain in ``table`` reaches one of ``roots`` (roots excluded)."""
    children = {}
    for pid, entry in table.items():
        children.setdefault(entry[0], []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _own_group_is(pgid):
    try:
        return os.getpgrp() == pgid
    except OSError:
        return True


def _kill_posix(pid, popen, deadline):
    me = os.getpid()
    table = process_table()
    if popen is not None and popen.returncode is not None:
        # Already reaped: its pid may be reused and its children were handed to another
        # parent; only its process group (a pgid is never reused while it has members) is left.
        tree = set()
    else:
        tree = {pid} | _descendants({pid}, table)
    # Freeze the tree (a stopped process cannot fork), then look again for children started
    # between the first look and the stop.
    for _ in range(5):
        for member in tree - {me}:
            _signal(member, signal.SIGSTOP)
        table = process_table()
        more = _descendants(tree, table) - tree
        if not more:
            break
        tree |= more
    tree.discard(me)
    # The whole process group the launcher leads (members that have no parent link to it any
    # more included), unless that group is ours.
    group = {p for p, entry in table.items() if entry[1] == pid}
    if group and not _own_group_is(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        tree |= group - {me}
    for member in tree:
        _signal(member, signal.SIGKILL)  # ends stopped processes too
    return _wait_gone(tree, popen, deadline)


def _wait_gone(tree, popen, deadline):
    """Wait until no process of ``tree`` runs (zombies count as gone), then reap our own Popen
    child (a bare pid is never reaped here: its owner would lose the exit status)."""
    while True:
        table = process_table()
        alive = sorted(p for p in tree if not _gone(table.get(p)))
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    if popen is not None and popen.pid not in alive:
        try:
            popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except (subprocess.TimeoutExpired, OSError):
            pass
    return alive


# ----------------------------------------------------------------------------- Windows
def _kill_windows(pid, popen, deadline):
    """``taskkill /F /T`` ends the process and every process it started (by parent pid)."""
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)
    try:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)], capture_output=True,
                       timeout=max(1.0, deadline - time.monotonic()), creationflags=flags)
    except (OSError, subprocess.SubprocessError):
        pass
    if popen is None:
        return []
    try:
        popen.kill()  # the launcher itself, should taskkill have failed
    except OSError:
        pass
    try:
        popen.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return [pid]
    return []
