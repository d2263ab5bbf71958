"""Reading a CT DICOM series folder with SimpleITK/GDCM, and checking its slice positions.

GDCM groups the files of a folder by SeriesInstanceUID and sorts each series along the slice normal
(ImagePositionPatient · normal of ImageOrientationPatient); SimpleITK applies RescaleSlope and
RescaleIntercept, so values are Hounsfield units. Positions are LPS mm (DICOM patient frame).
"""

import os
import re

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .dicom_series import SEARCH_DEPTH, choose_series, dicom_series, split_series
from .gantry_tilt import check_slice_gaps, regularise_slices
from .quiet import quiet_libraries

SAME_POSITION_MM = 1e-3           # two slices closer than this along the normal are duplicates
EDGE_PLANES = 16                  # slices sampled for a reconstruction's edge sharpness
EDGE_PERCENTILE = 99.5            # of the in-plane gradient magnitude: bone edges, not air/skin


def _one_line(text, limit=120):
    """Collapse whitespace of an error text to one short line."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _dicom_vector(reader, index, tag, count):
    """Floats of a multi-valued DICOM tag of slice ``index``, or None when absent or malformed."""
    if not reader.HasMetaDataKey(index, tag):
        return None
    try:
        values = [float(v) for v in reader.GetMetaData(index, tag).split("\\")]
    except ValueError:
        return None
    return values if len(values) == count else None


def slice_positions(reader, count, name):
    """ImagePositionPatient of each slice (array n x 3, LPS mm, in the reader's slice order), or
    None when a slice lacks it or ImageOrientationPatient is absent (geometry left as read).

    InputError when two slices share a position, the order along the slice normal is not
    monotonic (duplicate or mixed series) or the gaps along the normal are badly uneven
    (missing slices: gantry_tilt.MAX_SLICE_GAP_VARIATION).
    """
    positions = [_dicom_vector(reader, index, "0020|0032", 3) for index in range(count)]
    if count < 3 or any(p is None for p in positions):
        return None
    positions = np.asarray(positions)
    orientation = _dicom_vector(reader, 0, "0020|0037", 6)
    axis = positions[-1] - positions[0]
    normal = np.cross(orientation[:3], orientation[3:]) if orientation else axis
    if np.linalg.norm(normal) == 0:
        normal = axis
    if np.linalg.norm(normal) == 0:
        raise InputError("%s: all DICOM slices share one position (duplicate series)" % name)
    normal = normal / np.linalg.norm(normal)
    distances = positions @ normal
    steps = np.diff(distances)
    if np.any(np.diff(np.sort(distances)) < SAME_POSITION_MM):
        raise InputError("%s: several DICOM slices share one position (duplicate files or "
                         "mixed series)" % name)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        raise InputError("%s: DICOM slices are not ordered along the slice normal (duplicate "
                         "files or mixed series)" % name)
    check_slice_gaps(distances, name)
    return positions if orientation else None


def _frames(path):
    """NumberOfFrames of the DICOM file ``path`` (1 when absent or unreadable)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        with quiet_libraries():
            reader.ReadImageInformation()
        return int(reader.GetMetaData("0028|0008").strip() or 1)
    except (RuntimeError, ValueError):
        return 1


def single_file_reason(path, what):
    """Why one DICOM file is not read as a CT (``what``: how to name it): a multi-frame file
    (enhanced CT: each frame's position and orientation lie in its functional groups, which this
    reader cannot check for tilt or uneven slices) or one slice of a series."""
    frames = _frames(path)
    if frames > 1:
        return ("%s is one multi-frame file of %d frames (an enhanced CT export?), whose "
                "frames' geometry cannot be checked here; convert it to a classic series or to "
                "NIfTI first (dcm2niix, or Slicer's DICOM module)" % (what, frames))
    return ("%s is a single slice; a 3D CT series is needed, give the folder holding all its "
            "slices" % what)


def _read_series(files, name, sid=""):
    """(image, reader) of a series' files (GDCM, rescale applied; per-slice metadata kept)."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with quiet_libraries():   # ITK warns of uneven slices; checked and reported by the caller
            return reader.Execute(), reader
    except RuntimeError as error:
        raise InputError("%s: cannot read DICOM series %s: %s" % (name, sid, _one_line(error)))


def edge_sharpness(image, planes=EDGE_PLANES, percentile=EDGE_PERCENTILE):
    """How sharp a reconstruction's edges are: the ``percentile`` of the in-plane gradient
    magnitude (HU/mm, central differences) over ``planes`` slices spread through the stack (the
    kernel is an in-plane filter: the same slices read with a bone kernel give 1.5-3 times a
    soft kernel's). Only compared between reconstructions of one acquisition."""
    array = sitk.GetArrayViewFromImage(image)
    spacing = image.GetSpacing()
    picks = np.unique(np.linspace(0, array.shape[0] - 1, planes).round().astype(int))
    values = []
    for k in picks:
        plane = np.asarray(array[k], dtype=np.float32)
        gy, gx = np.gradient(plane, spacing[1], spacing[0])
        values.append(np.hypot(gx, gy).ravel())
    return float(np.percentile(np.concatenate(values), percentile))


def _read_checked(files, name, sid, read):
    """(image, reader, slice positions) of a series (``read``: series already read, by files);
    InputError for one file or slices that do not stack (:func:`slice_positions`)."""
    if len(files) == 1:
        raise InputError(single_file_reason(files[0], "%s: DICOM series %s" % (name, sid)))
    image, reader = read.pop(files, None) or _read_series(files, name, sid)
    return image, reader, slice_positions(reader, len(files), name)


def read_dicom_folder(folder, name):
    """Read the CT series in ``folder`` or its subfolders (a series, a study of several series,
    an export's patient / study / series tree: the one :func:`.dicom_series.choose_series` ranks
    first); returns (image, warnings, series info).

    The image is as SimpleITK/GDCM gives it (rescale applied, slices sorted along the normal),
    resampled onto an orthogonal, evenly spaced grid when the slices are tilted (gantry tilt) or
    unevenly spaced (io/gantry_tilt.py, with a warning); the caller checks its shape. InputError
    (one line naming ``name``) when nothing usable.
    """
    series = dicom_series(folder, below=True)
    if not series:
        if not any(not entry.startswith(".") for entry in os.listdir(folder)):
            raise InputError("%s: folder is empty" % name)
        raise InputError("%s: folder holds no DICOM series, nor do its subfolders %d levels "
                         "down (and it is not an image file)" % (name, SEARCH_DEPTH))
    read = {}

    def sharpness(files):          # reconstructions of one acquisition: read (kept) and scored
        read[files] = _read_series(files, name)
        return edge_sharpness(read[files][0])

    sid, files, info, warnings = choose_series(series, name, folder, sharpness)
    try:
        image, reader, positions = _read_checked(files, name, sid, read)
    except InputError:            # slices of several geometries filed under one series UID?
        parts = split_series(sid, files)
        if len(parts) < 2:
            raise
        alone, total = len(series) == 1, len(files)
        series = [item for item in series if item[1] != files] + parts
        sid, files, info, warnings = choose_series(series, name, folder, sharpness)
        if alone:                 # its parts are not the folder's series: one warning says it
            del warnings[:]
        warnings.append("%s: DICOM series %s holds slices of %d orientations or sizes (a "
                        "localizer or reformat filed in it?): read apart, measured %d of its %d "
                        "files" % (name, info["number"] or info["uid"], len(parts), len(files),
                                   total))
        image, reader, positions = _read_checked(files, name, sid, read)
    read.clear()
    if positions is not None and image.GetDimension() == 3 and len(positions) == image.GetDepth():
        image, more = regularise_slices(image, positions, name)
        warnings.extend(more)
    return image, warnings, info
