"""Writing one file atomically: the one helper every writer of the library uses."""

import contextlib
import os
import uuid


@contextlib.contextmanager
def atomic_path(path, ending=""):
    """Yield a temporary path beside ``path`` (ending in ``ending``, e.g. ".nii.gz", so writers
    that choose the format by name still do); move it onto ``path`` when the block succeeds, and
    remove it otherwise. The writer creates the file itself, so it gets the usual permissions."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    temporary = os.path.join(folder, ".partial-%d-%s%s" % (os.getpid(), uuid.uuid4().hex, ending))
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
