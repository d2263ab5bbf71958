"""Writing a synthetic CT as a DICOM series, with the tags a scanner writes (tests of the
DICOM reader, its series choice and the pipeline on DICOM input)."""

import os
import struct

import numpy as np
import SimpleITK as sitk


def _tag_key(tag):
    """"0020|0032" -> (0x0020, 0x0032)."""
    group, element = tag.split("|")
    return int(group, 16), int(element, 16)


def edit_dicom_file(path, changes):
    """Rewrite one file written here (GDCM: explicit VR meta group, then an implicit VR little
    endian data set of defined lengths) with ``changes``: (tag, bytes) pairs set those exact
    bytes (e.g. Latin-1 text, which SimpleITK would write as UTF-8), (tag, None) pairs remove
    the tag. Elements are kept sorted by tag, as DICOM requires."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[128:132] == b"DICM"
    meta_end = 144 + struct.unpack("<I", data[140:144])[0]     # (0002,0000) group length
    elements, at = {}, meta_end
    while at < len(data):
        group, element, length = struct.unpack("<HHI", data[at:at + 8])
        assert length != 0xFFFFFFFF, "undefined length: not a file written here"
        elements[(group, element)] = data[at + 8:at + 8 + length]
        at += 8 + length
    for tag, value in changes:
        if value is None:
            elements.pop(_tag_key(tag), None)
        else:
            elements[_tag_key(tag)] = value + (b" " if len(value) % 2 else b"")
    out = bytearray(data[:meta_end])
    for (group, element), value in sorted(elements.items()):
        out += struct.pack("<HHI", group, element, len(value)) + value
    with open(path, "wb") as handle:
        handle.write(bytes(out))


def write_dicom_series(image_hu, folder, series_uid="1.2.826.0.1.3680043.2.1125.7.1",
                       intercept=-1024, first=0, count=None, shift_per_slice=(0.0, 0.0, 0.0),
                       tags=(), slice_tags=None):
    """Write slices ``first..first+count-1`` of an integer HU image as a CT DICOM series.

    Tags: ImagePositionPatient per slice, ImageOrientationPatient from the direction's first two
    columns, PixelSpacing (row, column), SliceThickness and RescaleIntercept/Slope (GDCM stores
    HU − intercept, and the reader must add it back). ``shift_per_slice`` (LPS mm) moves slice k
    by k times that vector, as a gantry tilt does. ``tags``: more (tag, value) pairs for every
    slice (SeriesNumber, ImageType, ...), written after the others (so they may replace them).
    ``slice_tags``: callable(k) -> (tag, value) pairs for slice k alone, applied last: a str value
    is written as the other tags are, bytes exactly as given (:func:`edit_dicom_file`), None
    removes the tag (a slice without ImagePositionPatient). Returns ``folder``.
    """
    os.makedirs(folder, exist_ok=True)
    count = image_hu.GetDepth() - first if count is None else count
    raw = sitk.Cast(image_hu, sitk.sitkInt16)
    d = image_hu.GetDirection()
    spacing = image_hu.GetSpacing()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(first, first + count):
        piece = raw[:, :, k]
        position = np.add(image_hu.TransformIndexToPhysicalPoint((0, 0, k)),
                          np.multiply(k, shift_per_slice))
        header = [("0008|0016", "1.2.840.10008.5.1.4.1.1.2"), ("0008|0060", "CT"),
                  ("0010|0010", "Phantom^Test"), ("0020|000d", "1.2.826.0.1.3680043.2.1125.7"),
                  ("0020|000e", series_uid), ("0008|0018", "%s.%d" % (series_uid, k + 1)),
                  ("0020|0013", str(k + 1)),
                  ("0020|0032", "\\".join("%.6f" % v for v in position)),
                  ("0020|0037",
                   "\\".join("%.8f" % v for v in (d[0], d[3], d[6], d[1], d[4], d[7]))),
                  ("0028|0030", "%.6f\\%.6f" % (spacing[1], spacing[0])),
                  ("0018|0050", "%.6f" % spacing[2]),
                  ("0028|1052", str(intercept)), ("0028|1053", "1")] + list(tags)
        extra = list(slice_tags(k)) if slice_tags else []
        for tag, value in header + [(t, v) for t, v in extra if isinstance(v, str)]:
            piece.SetMetaData(tag, value)
        # named by the UID's tail, dots made dashes (a tail like ".21.10" would hide the file)
        path = os.path.join(folder, "%s_%03d.dcm" % (series_uid[-8:].replace(".", "-"), k))
        writer.SetFileName(path)
        writer.Execute(piece)
        raw_changes = [(t, v) for t, v in extra if not isinstance(v, str)]
        if raw_changes:
            edit_dicom_file(path, raw_changes)
    return folder
