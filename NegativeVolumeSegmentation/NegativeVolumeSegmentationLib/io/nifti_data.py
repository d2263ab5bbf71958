"""Checking a NIfTI file's voxel data before ITK reads it.

ITK's NIfTI reader silently reads missing bytes (a truncated .nii / .nii.gz) and NaN or infinite
float values as zeros; :func:`check_nifti_data` streams the stored bytes (chunk by chunk,
decompressing a .nii.gz; nothing kept) and raises :class:`InputError` with one line instead.
It also reads a file with qform_code = sform_code = 0 (no orientation: method 1 of the NIfTI
standard) with its default axes, as if they were LPS; :func:`unoriented_nifti` tells such a file
apart, so that a reader can say that the patient's left/right are not known from it.
"""

import gzip
import os
import zlib

import numpy as np

from ..errors import InputError

NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}   # NIfTI datatype code -> numpy float kind
NO_ORIENTATION = "%s: the NIfTI file carries no orientation (qform and sform codes 0)"


def _nifti_layout(header):
    """(data offset, data bytes, float dtype or None, (qform_code, sform_code)) of a NIfTI-1/-2
    header, or None."""
    for endian in "<>":
        size = np.frombuffer(header[:4], dtype=endian + "i4")[0]
        if size == 348 and len(header) >= 348:
            code = int(np.frombuffer(header[70:72], dtype=endian + "i2")[0])
            bitpix = int(np.frombuffer(header[72:74], dtype=endian + "i2")[0])
            dims = np.frombuffer(header[40:56], dtype=endian + "i2").astype(np.int64)
            offset = max(int(np.frombuffer(header[108:112], dtype=endian + "f4")[0]), 352)
            codes = np.frombuffer(header[252:256], dtype=endian + "i2")
            break
        if size == 540 and len(header) >= 540:
            code = int(np.frombuffer(header[12:14], dtype=endian + "i2")[0])
            bitpix = int(np.frombuffer(header[14:16], dtype=endian + "i2")[0])
            dims = np.frombuffer(header[16:80], dtype=endian + "i8")
            offset = max(int(np.frombuffer(header[168:176], dtype=endian + "i8")[0]), 544)
            codes = np.frombuffer(header[344:352], dtype=endian + "i4")
            break
    else:
        return None
    rank = int(dims[0])
    if not 1 <= rank <= 7 or bitpix <= 0 or np.any(dims[1:rank + 1] < 1):
        return None
    kind = NIFTI_FLOAT_TYPES.get(code)
    dtype = np.dtype(endian + kind) if kind and np.dtype(kind).itemsize * 8 == bitpix else None
    return (offset, int(np.prod(dims[1:rank + 1])) * bitpix // 8, dtype,
            (int(codes[0]), int(codes[1])))


def unoriented_nifti(path):
    """Whether ``path`` is a NIfTI file (.nii, .nii.gz) whose header has qform_code and sform_code
    0: it carries no orientation, so the patient's left/right are not known from it (ITK reads
    its axes as LPS). False for other files and for a header that cannot be read (the reader
    then says why)."""
    if not path.lower().endswith((".nii", ".nii.gz")):
        return False
    try:
        with (gzip.open if path.lower().endswith(".gz") else open)(path, "rb") as handle:
            layout = _nifti_layout(handle.read(544))
    except (OSError, EOFError, zlib.error):
        return False
    return layout is not None and layout[3] == (0, 0)


def check_nifti_data(path, name):
    """InputError when a .nii / .nii.gz holds less voxel data than its header declares, or (float
    data) NaN / infinite values. ITK's NIfTI reader silently reads both as zeros, so the stored
    bytes are streamed here (chunk by chunk, decompressing a .nii.gz; nothing is kept).
    """
    compressed = path.lower().endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as handle:
            layout = _nifti_layout(handle.read(544))
            if layout is None:
                return
            offset, needed, dtype = layout[:3]
            if dtype is None and not compressed:
                present = os.path.getsize(path) - offset
            else:
                handle.seek(offset)
                present, bad = 0, 0
                step = (1 << 22) - (1 << 22) % (dtype.itemsize if dtype else 1)
                while present < needed:
                    chunk = handle.read(min(step, needed - present))
                    if not chunk:
                        break
                    present += len(chunk)
                    if dtype is not None:
                        values = np.frombuffer(chunk[:len(chunk) - len(chunk) % dtype.itemsize],
                                               dtype=dtype)
                        bad += int(values.size - np.count_nonzero(np.isfinite(values)))
                if bad:
                    raise InputError("%s: contains %d NaN or infinite voxel values" % (name, bad))
    except (OSError, EOFError, zlib.error):
        raise InputError("%s: NIfTI file is truncated or corrupt (compressed data ends early)"
                         % name)
    if present < needed:
        raise InputError("%s: NIfTI file is truncated (%d of the %d bytes of voxel data its header "
                         "declares)" % (name, max(present, 0), needed))
