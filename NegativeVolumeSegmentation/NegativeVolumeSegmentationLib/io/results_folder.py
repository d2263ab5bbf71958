"""Writing a result folder so that a failure never leaves half-written files behind."""

import contextlib
import os
import shutil
import tempfile

from ..errors import InputError


def check_writable(out_dir):
    """Create ``out_dir`` if needed and check it is a writable folder; InputError otherwise."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("output path %s exists and is not a folder" % out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise InputError("cannot create output folder %s: %s" % (out_dir, error.strerror or error))
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError("output folder %s is not writable" % out_dir)
    return out_dir


@contextlib.contextmanager
def staged_output(out_dir):
    """Yield a hidden staging folder inside ``out_dir``; on success move its files into ``out_dir``.

    On any exception the staging folder is removed and nothing new appears in ``out_dir``.
    Files are moved with :func:`os.replace` (atomic on one file system), so readers never see a
    partially written file.
    """
    out_dir = check_writable(out_dir)
    try:
        stage = tempfile.mkdtemp(prefix=".nvseg-partial-", dir=out_dir)
    except OSError as error:
        raise InputError("output folder %s is not writable: %s" % (out_dir, error.strerror or error))
    try:
        yield stage
        for root, _dirs, files in os.walk(stage):
            rel = os.path.relpath(root, stage)
            target_root = out_dir if rel == "." else os.path.join(out_dir, rel)
            os.makedirs(target_root, exist_ok=True)
            for name in files:
                os.replace(os.path.join(root, name), os.path.join(target_root, name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
