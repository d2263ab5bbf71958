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


def _nifti_transforms(header):
    """(pixdim (8,), qform 3 x 4 or None, sform 3 x 4 or None) of a NIfTI-1 / -2 header (each
    transform None when its code is 0), or None for another header."""
    for endian in "<>":
        size = np.frombuffer(header[:4], dtype=endian + "i4")[0]
        if size == 348 and len(header) >= 348:
            f, at = endian + "f4", (76, 252, 256, 268, 280)
            codes = np.frombuffer(header[252:256], dtype=endian + "i2")
            break
        if size == 540 and len(header) >= 540:
            f, at = endian + "f8", (104, 344, 352, 376, 400)
            codes = np.frombuffer(header[344:352], dtype=endian + "i4")
            break
    else:
        return None
    width = np.dtype(f).itemsize
    pixdim = np.frombuffer(header[at[0]:at[0] + 8 * width], dtype=f).astype(float)
    sform = None
    if codes[1] > 0:
        sform = np.frombuffer(header[at[4]:at[4] + 12 * width], dtype=f).astype(float)
        sform = sform.reshape(3, 4)
    qform = None
    if codes[0] > 0:
        b, c, d = np.frombuffer(header[at[2]:at[2] + 3 * width], dtype=f).astype(float)
        a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
        rotation = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                             [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                             [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]])
        scale = np.abs(pixdim[1:4]) * np.array([1.0, 1.0, -1.0 if pixdim[0] < 0 else 1.0])
        offset = np.frombuffer(header[at[3]:at[3] + 3 * width], dtype=f).astype(float)
        qform = np.column_stack([rotation * scale, offset])
    return pixdim, qform, sform


def check_nifti_axes(header, name):
    """InputError (one line) when a NIfTI header's geometry is ambiguous: an sform whose voxel
    size disagrees with pixdim (ITK then reads pixdim, the NIfTI standard and nibabel the sform:
    a label map at 0.5 mm with pixdim 1 mm read 8 x its condyle volume), or a qform and an sform
    that place the voxels differently (ITK takes the qform, nibabel the sform: a stale qform
    read the sides reversed). Tolerances: 0.1 % of the voxel size, 0.01 mm."""
    found = _nifti_transforms(header)
    if found is None:
        return
    pixdim, qform, sform = found
    if sform is None:
        return
    sizes = np.linalg.norm(sform[:, :3], axis=0)
    voxel = np.abs(pixdim[1:4])
    if np.any(np.abs(sizes - voxel) > 1e-3 * np.maximum(voxel, 1e-6)):
        raise InputError("%s: the NIfTI sform's voxel size (%s mm) disagrees with its pixdim (%s "
                         "mm); readers differ on which to use: fix the header"
                         % (name, " x ".join("%.4g" % v for v in sizes),
                            " x ".join("%.4g" % v for v in voxel)))
    if qform is not None and (
            np.abs(qform[:, :3] - sform[:, :3]).max() > 1e-3 * max(voxel.max(), 1e-6)
            or np.abs(qform[:, 3] - sform[:, 3]).max() > 0.01):
        raise InputError("%s: the NIfTI qform and sform place the voxels differently (ITK reads "
                         "the qform, other tools the sform); fix the header" % name)


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
    """InputError when a .nii / .nii.gz holds less voxel data than its header declares, (float
    data) NaN / infinite values, or geometry readers disagree on (:func:`check_nifti_axes`). ITK's NIfTI reader silently reads both as zeros, so the stored
    bytes are streamed here (chunk by chunk, decompressing a .nii.gz; nothing is kept).
    """
    compressed = path.lower().endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as handle:
            header = handle.read(544)
            layout = _nifti_layout(header)
            if layout is None:
                return
            check_nifti_axes(header, name)
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
