"""Whether a process has ended, judged independently of the code under test (the process-tree,
parent-watch and background-run tests): no such process, or a zombie (it runs no code and holds
no file)."""

import os
import subprocess


def dead(pid):
    """True when ``pid`` runs no more (gone, or a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    if os.path.exists("/proc/%d/stat" % pid):
        try:
            with open("/proc/%d/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state in ("Z", "X")
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return out.stdout.strip()[:1] in ("", "Z")
