"""End a background run when the process that started it ends (``nvseg compute --parent-pid``).

The Slicer module measures in a child process (:mod:`..scene.background`). Should Slicer crash or
be killed, nothing cancels that child: it would compute to its end (minutes on a CPU) and leave
its temporary folder behind, the CT it was given included. With ``--parent-pid PID`` the child
watches PID from a daemon thread (every :data:`POLL_S` seconds, and once at the start); when PID
has ended it removes its ``--temp-dir`` and exits at once with status 130 (as interrupted),
having written nothing: the results folder is only ever moved in whole at the end.

``--temp-dir`` is removed only when it is a folder the module made for that parent: its name
begins ``nvseg-slicer-<PID>-`` (:func:`temp_prefix`); any other folder is refused at the start,
so no typing slip on the command line can have a folder removed.

Liveness: POSIX ``os.kill(pid, 0)``, a zombie (Linux ``/proc`` state Z) counting as ended, and
on Linux the process's start time read at the start, so that a later process given the same pid
does not pass for the parent; Windows a SYNCHRONIZE handle opened at the start and waited on
with timeout 0 (``os.kill`` on Windows would terminate the process; the open handle also keeps
the pid from being reused). Standard library only (Slicer does not bundle psutil).
"""

import os
import shutil
import sys
import threading
import time

from ..errors import InputError

POLL_S = 0.5
EXIT_STATUS = 130


def temp_prefix(pid):
    """Name prefix of the temporary folders the Slicer module makes while running as ``pid``."""
    return "nvseg-slicer-%d-" % pid


def watch(pid, temp_dir=None, poll_s=POLL_S, end=None):
    """Watch process ``pid``; when it has ended, remove ``temp_dir`` and end this process.

    Checks once before returning (a parent already gone ends this process here) and then from a
    daemon thread every ``poll_s`` seconds. ``end`` (for tests) replaces the exit: it is called
    with no argument after the folder is removed. Raises InputError for a ``temp_dir`` that is
    not named for ``pid`` (:func:`temp_prefix`). Returns the thread, or None when ``pid`` cannot
    be watched (Windows: no access to it; then the run simply goes on).
    """
    if temp_dir is not None and not os.path.basename(
            os.path.normpath(temp_dir)).startswith(temp_prefix(pid)):
        raise InputError("--temp-dir %s: only a folder made for the parent process, named %s..., "
                         "is removed when it ends" % (temp_dir, temp_prefix(pid)))
    alive = _liveness(pid)
    if alive is None:
        return None
    finish = end or (lambda: os._exit(EXIT_STATUS))

    def stop():
        try:
            sys.stderr.write("nvseg: the process that started this run (pid %d) has ended; "
                             "stopped, nothing written\n" % pid)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        finish()

    if not alive():
        stop()
        return None

    def loop():
        while alive():
            time.sleep(poll_s)
        stop()

    thread = threading.Thread(target=loop, name="nvseg-parent-watch", daemon=True)
    thread.start()
    return thread


def _liveness(pid):
    """A function telling whether ``pid`` still runs, or None when it cannot be told."""
    if os.name == "nt":
        return _windows_liveness(pid)
    started = _linux_start_time(pid)
    if started is None and os.path.exists("/proc/self/stat"):
        return lambda: False   # Linux: gone already, or a zombie

    def alive():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # runs, as another user
        if started is None:
            return True
        return _linux_start_time(pid) == started   # None once gone or a zombie

    return alive


def _linux_start_time(pid):
    """Start time (clock ticks after boot) from /proc/<pid>/stat; None where there is no /proc,
    or when the process is gone or a zombie."""
    from ..scene.process_tree import proc_stat_fields

    fields = proc_stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    return fields[19]


def _windows_liveness(pid, kernel32=None, last_error=None):
    """Windows: the process's handle (SYNCHRONIZE access) waited on with timeout 0."""
    synchronize, wait_timeout, invalid_parameter = 0x00100000, 0x00000102, 87
    if kernel32 is None:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        last_error = ctypes.get_last_error
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        if last_error() == invalid_parameter:   # no such process: already ended
            return lambda: False
        return None
    return lambda: kernel32.WaitForSingleObject(handle, 0) == wait_timeout
