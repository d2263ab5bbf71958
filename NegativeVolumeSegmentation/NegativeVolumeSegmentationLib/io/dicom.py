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

SLICE_GAP_TOLERANCE = 0.01        # relative variation of slice spacing accepted silently
SAME_POSITION_MM = 1e-3           # two slices closer than this along the normal are duplicates
TILT_DEGREES = 0.5                # slice stacking axis this far from the normal = gantry tilt


def _one_line(text, limit=120):
    """Collapse whitespace of an error text to one short line."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def dicom_series(folder):
    """List of DICOM series directly in ``folder``: (series id, sorted file names), most slices first.

    File names are sorted by GDCM along the slice normal (ImagePositionPatient).
    """
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    except RuntimeError:
        return []
    series = []
    for sid in ids:
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, sid)
        if files:
            series.append((sid, tuple(files)))
    series.sort(key=lambda item: -len(item[1]))
    return series


def _dicom_vector(reader, index, tag, count):
    """Floats of a multi-valued DICOM tag of slice ``index``, or None when absent or malformed."""
    if not reader.HasMetaDataKey(index, tag):
        return None
    try:
        values = [float(v) for v in reader.GetMetaData(index, tag).split("\\")]
    except ValueError:
        return None
    return values if len(values) == count else None


def check_slice_positions(reader, count, name):
    """Check slice positions (ImagePositionPatient) along the slice normal.

    InputError when two slices share a position or the order is not monotonic (duplicate or mixed
    series); warnings for uneven spacing (missing slices) and gantry tilt.
    """
    positions = [_dicom_vector(reader, index, "0020|0032", 3) for index in range(count)]
    if count < 3 or any(p is None for p in positions):
        return []
    positions = np.asarray(positions)
    orientation = _dicom_vector(reader, 0, "0020|0037", 6)
    axis = positions[-1] - positions[0]
    normal = np.cross(orientation[:3], orientation[3:]) if orientation else axis
    if np.linalg.norm(normal) == 0:
        normal = axis
    if np.linalg.norm(normal) == 0:
        raise InputError("%s: all DICOM slices share one position (duplicate series)" % name)
    normal = normal / np.linalg.norm(normal)
    steps = np.diff(positions @ normal)
    if np.any(np.diff(np.sort(positions @ normal)) < SAME_POSITION_MM):
        raise InputError("%s: several DICOM slices share one position (duplicate files or "
                         "mixed series)" % name)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        raise InputError("%s: DICOM slices are not ordered along the slice normal (duplicate "
                         "files or mixed series)" % name)
    gaps = np.abs(steps)
    median = float(np.median(gaps))
    warnings = []
    if np.abs(gaps - median).max() > SLICE_GAP_TOLERANCE * median:
        warnings.append("%s: DICOM slice spacing varies from %.3f to %.3f mm (missing or uneven "
                        "slices); volumes along the slice axis are approximate"
                        % (name, gaps.min(), gaps.max()))
    if orientation and np.linalg.norm(axis) > 0:
        cosine = abs(float(np.dot(axis / np.linalg.norm(axis), normal)))
        tilt = np.degrees(np.arccos(min(1.0, cosine)))
        if tilt > TILT_DEGREES:
            warnings.append("%s: DICOM slices are tilted by %.1f degrees (gantry tilt); the volume "
                            "is read without shear correction" % (name, tilt))
    return warnings


def read_dicom_folder(folder, name):
    """Read the largest DICOM series directly in ``folder``; returns (image, warnings).

    The image is as SimpleITK/GDCM gives it (rescale applied, slices sorted along the normal);
    the caller checks its shape. InputError (one line naming ``name``) when nothing usable.
    """
    series = dicom_series(folder)
    if not series:
        if not any(not entry.startswith(".") for entry in os.listdir(folder)):
            raise InputError("%s: folder is empty" % name)
        raise InputError("%s: folder holds no DICOM series (and is not an image file)" % name)
    warnings = []
    sid, files = series[0]
    if len(series) > 1:
        warnings.append("%s: folder holds %d DICOM series; using series %s with %d slices"
                        % (name, len(series), sid, len(files)))
    if len(files) == 1:
        raise InputError("%s: DICOM series %s has a single file; a 3D CT series is needed"
                         % (name, sid))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)    # uneven slices are reported below
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError("%s: cannot read DICOM series %s: %s" % (name, sid, _one_line(error)))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    warnings.extend(check_slice_positions(reader, len(files), name))
    return image, warnings
