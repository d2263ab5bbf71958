"""Reading a CT DICOM series folder with SimpleITK/GDCM, and checking its slice positions.

GDCM groups the files of a folder by SeriesInstanceUID and sorts each series along the slice normal
(ImagePositionPatient · normal of ImageOrientationPatient); SimpleITK applies RescaleSlope and
RescaleIntercept, so values are Hounsfield units. Positions are LPS mm (DICOM patient frame).
Every slice must carry its ImagePositionPatient: without it GDCM places slices anywhere (files
lacking it set apart when the rest stack; else refused). Files GDCM could not read (permission
denied, damaged) are counted and named when the series they leave is refused.
"""

import os
import re

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .dicom_files import (SEARCH_DEPTH, dicom_reader, dicom_series, is_dicom_file, merge_series,
                          split_series, without_copies)
from .dicom_series import MIN_VOLUME_SLICES, choose_series
from .gantry_tilt import check_slice_gaps, regularise_slices
from .quiet import quiet_libraries

POSITION, ORIENTATION = "0020|0032", "0020|0037"   # ImagePositionPatient, -OrientationPatient
SAME_POSITION_MM = 1e-3           # two slices closer than this along the normal are duplicates
WIDE_INTEGER_TYPES = (sitk.sitkInt32, sitk.sitkUInt32, sitk.sitkInt64, sitk.sitkUInt64)
INT16_RANGE = (-32768, 32767)
EDGE_PLANES = 16                  # slices sampled for a reconstruction's edge sharpness
EDGE_PERCENTILE = 99.5            # of the in-plane gradient magnitude: bone edges, not air/skin


class PositionError(InputError):
    """A series refused for slices without ImagePositionPatient (not for unreadable files)."""


def _one_line(text, limit=120):
    """Collapse whitespace of an error text to one short line."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_int16(image):
    """An int16 copy of ``image`` (metadata kept) when its pixels are wider integers that all
    fit, else ``image`` itself: GDCM reads a 16-bit series with its rescale intercept applied as
    int32, twice the memory of int16 (a float32 copy of it as much again)."""
    if image.GetPixelID() not in WIDE_INTEGER_TYPES:
        return image
    extremes = sitk.MinimumMaximumImageFilter()   # no copy (a numpy view of a reader's
    extremes.Execute(image)                       # output copies its buffer)
    if not INT16_RANGE[0] <= extremes.GetMinimum() <= extremes.GetMaximum() <= INT16_RANGE[1]:
        return image
    out = sitk.Cast(image, sitk.sitkInt16)
    for key in image.GetMetaDataKeys():
        out.SetMetaData(key, image.GetMetaData(key))
    return out


def _dicom_vector(reader, index, tag, count):
    """Floats of a multi-valued DICOM tag of slice ``index``, or None when absent or malformed."""
    if not reader.HasMetaDataKey(index, tag):
        return None
    try:
        values = [float(v) for v in reader.GetMetaData(index, tag).split("\\")]
    except ValueError:
        return None
    return values if len(values) == count else None


def os_reason(error):
    """An OSError's reason in words, lower case: "permission denied"."""
    return (error.strerror or type(error).__name__).lower()


def slice_positions(reader, count, name):
    """ImagePositionPatient of each slice (array n x 3, LPS mm, in the reader's slice order), or
    None when a slice lacks it (:func:`_read_checked` sets such slices apart first) or
    ImageOrientationPatient is absent (geometry left as read).

    InputError when two slices share a position, the order along the slice normal is not
    monotonic (duplicate or mixed series) or the gaps along the normal are badly uneven
    (missing slices: gantry_tilt.MAX_SLICE_GAP_VARIATION).
    """
    positions = [_dicom_vector(reader, index, POSITION, 3) for index in range(count)]
    if count < 3 or any(p is None for p in positions):
        return None
    positions = np.asarray(positions)
    orientation = _dicom_vector(reader, 0, ORIENTATION, 6)
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
    reader = dicom_reader()
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


def _read_series(files, name, what="series"):
    """(image, reader) of a series' files (GDCM, rescale applied; per-slice metadata kept)."""
    reader = dicom_reader(series=True)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with quiet_libraries():   # ITK warns of uneven slices; checked and reported by the caller
            return reader.Execute(), reader
    except RuntimeError as error:
        raise InputError("%s: cannot read DICOM %s: %s" % (name, what, _one_line(error)))


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


def _read_checked(files, name, what, read):
    """(image, slice positions, warnings) of a series (``what``: how to name it; ``read``: series
    already read, by files). Slices without ImagePositionPatient (a secondary capture or a
    damaged slice filed in the series: GDCM puts them anywhere and the spacing with them) are set
    apart when the others stack, with a warning. InputError for one file, no slice with a
    position, or slices that do not stack (:func:`slice_positions`)."""
    if len(files) == 1:
        raise InputError(single_file_reason(files[0], "%s: DICOM %s" % (name, what)))
    image, reader = read.pop(files, None) or _read_series(files, name, what)
    lacking = set(k for k in range(len(files)) if _dicom_vector(reader, k, POSITION, 3) is None)
    if not lacking:
        return image, slice_positions(reader, len(files), name), []
    if len(lacking) == len(files):
        raise PositionError("%s: no slice of DICOM %s has an ImagePositionPatient: where the "
                            "slices lie and how far apart is unknown, GDCM would stack them 1 mm "
                            "apart at the origin; export the series with its slice positions"
                            % (name, what))
    kept = tuple(path for k, path in enumerate(files) if k not in lacking)
    refused = PositionError("%s: %d of the %d slices of DICOM %s lack ImagePositionPatient, "
                            "damaged or not of the series, and the others do not stack without "
                            "them: the slices cannot be placed" % (name, len(lacking),
                                                                   len(files), what))
    if len(kept) < MIN_VOLUME_SLICES:
        raise refused
    try:
        image, reader = _read_series(kept, name, what)
        positions = slice_positions(reader, len(kept), name)
    except InputError:
        raise refused
    return image, positions, ["%s: set apart %d file%s of DICOM %s without ImagePositionPatient "
                              "(a secondary capture or a damaged slice filed in it?); measured "
                              "its other %d slices" % (name, len(lacking), "s" * (len(lacking) > 1),
                                                       what, len(kept))]


def _mentions(path, uid, head=1 << 16):
    """Whether the first ``head`` bytes of file ``path`` hold the UID ``uid`` (its header)."""
    try:
        with open(path, "rb") as handle:
            return bool(uid) and uid.encode("ascii", "replace") in handle.read(head)
    except OSError:
        return False


def unread_files(files, series, uid):
    """(unreadable, damaged): sorted paths of the files beside the series ``files`` (in their
    folders) that GDCM read into no series of ``series`` and that cannot be opened (permission
    denied), or that look like DICOM (:func:`.dicom_files.is_dicom_file`) and carry the series'
    UID ``uid`` in their header (a slice of it GDCM could not parse: cut short, damaged; a dose
    report or other file without pixel data, which GDCM passes over too, is of another series)."""
    listed = set(os.path.normpath(path) for _sid, group in series for path in group)
    unreadable, damaged = [], []
    for where in sorted(set(os.path.dirname(path) for path in files)):
        try:
            names = sorted(os.listdir(where))
        except OSError:
            continue
        for entry in names:
            path = os.path.normpath(os.path.join(where, entry))
            if (entry.startswith(".") or entry.upper() == "DICOMDIR" or path in listed
                    or not os.path.isfile(path)):
                continue
            if not os.access(path, os.R_OK):
                unreadable.append(path)
            elif is_dicom_file(path) and _mentions(path, uid):
                damaged.append(path)
    return unreadable, damaged


def _files_named(paths, limit=3):
    return ", ".join(os.path.basename(p) for p in paths[:limit]) + (", ..." if len(paths) > limit
                                                                      else "")


def _incomplete(error, files, series, name, info):
    """The refusal ``error`` of a series, or, when files beside it could not be read (those are
    its missing slices), an InputError that names them instead."""
    unreadable, damaged = unread_files(files, series, info["uid"])
    if isinstance(error, PositionError) or not unreadable + damaged:
        return error
    return InputError("%s: cannot read %d file%s beside DICOM %s, %s: %s; the slices read leave "
                      "it incomplete" % (name, len(unreadable + damaged),
                                         "s" * (len(unreadable + damaged) > 1), _what(info),
                                         "damaged or unreadable" if damaged else
                                         "permission denied", _files_named(unreadable + damaged)))


def _read_chosen(series, name, folder, read, sharpness):
    """(image, positions, info, warnings) of the series :func:`choose_series` ranks first, read
    apart by geometry when its files do not stack (:func:`split_series`); a refusal names the
    files beside it that could not be read (:func:`_incomplete`), and a warning those denied to
    us beside a series read."""
    sid, files, info, warnings = choose_series(series, name, folder, sharpness)
    try:
        image, positions, more = _read_checked(files, name, _what(info), read)
    except InputError as error:   # slices of several geometries filed under one series UID?
        unique, copies = (files, 0) if isinstance(error, PositionError) else without_copies(files)
        if copies:                # or a slice written twice (the same SOPInstanceUID)
            try:
                image, positions, more = _read_checked(unique, name, _what(info), read)
            except InputError:
                pass
            else:
                more.insert(0, "%s: DICOM %s holds %d duplicate file%s (copies of one "
                               "SOPInstanceUID), left out" % (name, _what(info), copies,
                                                               "s" * (copies > 1)))
                return _with_unread(image, positions, info, warnings + more, unique, series,
                                    name)
        parts = split_series(sid, files)
        if isinstance(error, PositionError) or len(parts) < 2:
            raise _incomplete(error, files, series, name, info)
        alone, total = len(series) == 1, len(files)
        series = [item for item in series if item[1] != files] + parts
        sid, files, info, warnings = choose_series(series, name, folder, sharpness)
        if alone:                 # its parts are not the folder's series: one warning says it
            del warnings[:]
        warnings.append("%s: DICOM series %s holds slices of %d orientations, sizes or image "
                        "types (a localizer or reformat filed in it?): read apart, measured %d "
                        "of its %d files" % (name, info["number"] or info["uid"], len(parts),
                                             len(files), total))
        try:
            image, positions, more = _read_checked(files, name, _what(info), read)
        except InputError as error:
            raise _incomplete(error, files, series, name, info)
    return _with_unread(image, positions, info, warnings + more, files, series, name)


def _with_unread(image, positions, info, warnings, files, series, name):
    """:func:`_read_chosen`'s result, with a warning naming the files beside the series read
    that were denied to us."""
    more = []
    unreadable = unread_files(files, series, info["uid"])[0]
    if unreadable:
        more.append("%s: cannot read %d file%s beside DICOM %s, permission denied: %s; measured "
                    "the %d slices read" % (name, len(unreadable), "s" * (len(unreadable) > 1),
                                            _what(info), _files_named(unreadable),
                                            image.GetDepth() or len(files)))
    return image, positions, info, warnings + more


def _what(info):
    """How a message names a described series: "series 3"."""
    return "series %s" % (info["number"] or info["uid"])


def read_dicom_folder(folder, name, below=True):
    """Read the CT series in ``folder`` or, with ``below``, its subfolders (a series, a study of
    several series, an export's patient / study / series tree: the one
    :func:`.dicom_series.choose_series` ranks first); returns (image, warnings, series info).

    The image is as SimpleITK/GDCM gives it (rescale applied, slices sorted along the normal),
    resampled onto an orthogonal, evenly spaced grid when the slices are tilted (gantry tilt) or
    unevenly spaced (io/gantry_tilt.py, with a warning); the caller checks its shape. InputError
    (one line naming ``name``) when the folder cannot be read or nothing in it is usable.
    """
    try:
        entries = [entry for entry in os.listdir(folder) if not entry.startswith(".")]
    except OSError as error:
        raise InputError("%s: cannot read folder: %s" % (name, os_reason(error)))
    series = dicom_series(folder, below=below)
    if not series:
        if not entries:
            raise InputError("%s: folder is empty" % name)
        raise InputError("%s: folder holds no DICOM series%s (and it is not an image file)"
                         % (name, ", nor do its subfolders %d levels down" % SEARCH_DEPTH
                            if below else ""))
    series, merged = merge_series(series, name, folder)
    read = {}

    def sharpness(files):          # reconstructions of one acquisition: read (kept) and scored
        read[files] = _read_series(files, name)
        return edge_sharpness(read[files][0])

    image, positions, info, warnings = _read_chosen(series, name, folder, read, sharpness)
    read.clear()
    image = as_int16(image)
    if positions is not None and image.GetDimension() == 3 and len(positions) == image.GetDepth():
        image, more = regularise_slices(image, positions, name)
        warnings.extend(more)
    return image, merged + warnings, info
