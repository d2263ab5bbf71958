"""Reading a head CT (file or DICOM series folder) with strict input checks.

``read_ct`` returns a 3D SimpleITK image in **Hounsfield units** (DICOM rescale slope and
intercept applied by SimpleITK/GDCM): 8- and 16-bit integer pixels as they are (a 0.2 mm CBCT is
2 GB of int16), wider integers that fit int16 (a DICOM series as GDCM reads it) as int16,
anything else float32. Origin, spacing (mm) and direction cosines are kept
exactly as read; physical points are LPS mm (+x = patient's left). The input is only read, never
modified. A DICOM folder may hold a whole study, in subfolders too: which series is read is
decided in io/dicom_series.py.

Bad input raises :class:`InputError` with one line that names the input; doubtful input
(intensities that do not look like CT in HU, coarse voxels, uneven DICOM slices) gives warnings.
A DICOM series with gantry tilt or slightly uneven slices is resampled onto an orthogonal, evenly
spaced grid (io/gantry_tilt.py). Library messages (ITK, GDCM, MetaIO, nifticlib) are kept off
stderr (io/quiet.py): only our one-line errors and warnings reach the user.
"""

import os

import numpy as np
import SimpleITK as sitk

from .dicom import as_int16, os_reason, read_dicom_folder, single_file_reason
from .dicom_files import dicom_folders, dicom_series, is_dicom_file, study_uids
from .dicom_series import series_record  # noqa: F401 (re-exported for the pipeline)
from .dicom_series import tag_image
from .nifti_data import check_nifti_data  # noqa: F401 (re-exported for segmentation_files)
from .nifti_data import NO_ORIENTATION, unoriented_nifti
from .case_names import (CT_EXTENSIONS, case_name, case_names, identity, image_extension,
                         is_label_name)
from .quiet import quiet_libraries
from ..errors import InputError, check_utf8_path, one_line
from ..hounsfield import AIR_HU, BONE_HU, SAMPLE_VOXELS
from ..hounsfield import MAX_HU as MAX_PLAUSIBLE_HU, MIN_HU as MIN_PLAUSIBLE_HU

FORMAT_NAMES = {".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD",
                ".mha": "MetaImage", ".mhd": "MetaImage"}
SEGMENTATION_EXTENSION = ".seg.nrrd"

MIN_VOXELS_PER_AXIS = 20          # fewer voxels along an axis cannot hold a TMJ
ORTHONORMAL_TOLERANCE = 1e-4      # max |DᵀD − I| entry accepted for the direction matrix
COARSE_SPACING_MM = 2.0           # warn above this voxel size (TMJ joint space is ~2-3 mm)


def check_direction(image, name):
    """InputError unless the image's direction matrix is orthonormal (a rotation or reflection)."""
    dim = image.GetDimension()
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim)
    error = np.abs(direction.T @ direction - np.eye(dim)).max()
    if not np.isfinite(error) or error > ORTHONORMAL_TOLERANCE:
        raise InputError("%s: direction matrix is not orthonormal (sheared or skewed axes, "
                         "deviation %.3g); resample it to an orthogonal grid first" % (name, error))


def orthonormal(image, noise=1e-9, copy=True):
    """``image`` with its direction matrix made exactly orthonormal (the nearest rotation or
    reflection: the SVD's polar factor) where it deviates by more than ``noise`` (a header's
    float noise, accepted by :func:`check_direction`): with ``copy`` a copy (metadata kept; the
    caller's image never changed), else ``image`` itself set so (an image just read: no second
    buffer); ``image`` itself when it is orthonormal already. The 0.3 mm measurement grid
    (engine/shape_interpolation.fine_grid) takes a direction's transpose for its inverse: the
    real head with every entry of its direction off by up to 3e-5 read condyles -1.0 %,
    orthonormalised as stored (1716.7 / 1625.4 -> 1733.2 / 1642.3 mm3)."""
    dim = image.GetDimension()
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim)
    if np.abs(direction.T @ direction - np.eye(dim)).max() <= noise:
        return image
    u, _singular, vt = np.linalg.svd(direction)
    out = sitk.Image(image) if copy else image
    out.SetDirection([float(v) for v in (u @ vt).ravel()])
    return out


def _check_shape(dimension, size, components, name):
    """InputError for vector, 2D, 4D or too small images, from header information only."""
    if components != 1:
        raise InputError("%s: has %d components per voxel (vector or colour image); a CT has one"
                         % (name, components))
    size = list(size)
    while dimension > 3 and size[-1] == 1:      # trailing axes of length 1 (e.g. 4D with one frame)
        size.pop()
        dimension -= 1
    if dimension < 3:
        raise InputError("%s: is a %dD image; a 3D CT volume is needed" % (name, dimension))
    if dimension > 3:
        raise InputError("%s: is a %dD image (size %s); a single 3D CT volume is needed"
                         % (name, dimension, "x".join(str(s) for s in size)))
    if min(size) == 1:
        raise InputError("%s: is a single slice (size %s); a 3D CT volume is needed"
                         % (name, "x".join(str(s) for s in size)))
    if min(size) < MIN_VOXELS_PER_AXIS:
        raise InputError("%s: is too small (size %s voxels; at least %d along each axis needed)"
                         % (name, "x".join(str(s) for s in size), MIN_VOXELS_PER_AXIS))
    return dimension


def _to_3d(image):
    """Drop trailing axes of length 1 (a 4D file with one frame is a 3D volume)."""
    if image.GetDimension() > 3:
        size = list(image.GetSize())
        image = sitk.Extract(image, size[:3] + [0] * (len(size) - 3), [0] * len(size))
    return image


def _read_file(path, name):
    """Read a supported image file after checking its header; InputError on any failure."""
    fmt = FORMAT_NAMES[image_extension(path)]
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        with quiet_libraries():   # ITK, MetaIO and nifticlib print their own errors on stderr
            reader.ReadImageInformation()
    except RuntimeError:
        raise InputError("%s: cannot read it as a %s image (corrupt file or not in that format)"
                         % (name, fmt))
    _check_shape(reader.GetDimension(), reader.GetSize(), reader.GetNumberOfComponents(), name)
    if fmt == "NIfTI":
        check_nifti_data(path, name)
    try:
        with quiet_libraries():
            image = reader.Execute()
    except RuntimeError:
        raise InputError("%s: cannot read the voxel data of this %s image (truncated or corrupt "
                         "file, or a missing data file)" % (name, fmt))
    return _to_3d(image)


def check_ct_like(image, name="CT"):
    """Warnings (strings) when intensities or voxel size do not look like a head CT in HU.

    Checks: some air below -500 HU; some bone above 300 HU; no absurd values; and hints when the
    values look like raw unrescaled CT (air at 0) or an MRI / normalised image.
    """
    warnings = []
    array = sitk.GetArrayViewFromImage(image)
    lo, hi = float(array.min()), float(array.max())
    step = max(1, int(round((array.size / float(SAMPLE_VOXELS)) ** (1.0 / 3.0))))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float64).ravel()
    p999 = float(np.percentile(sample, 99.9))
    if lo >= AIR_HU:
        if lo >= -50.0 and p999 > 1500.0 and p999 < 5000.0:
            hint = "they look like raw CT values without the -1024 rescale intercept"
        elif hi <= 1.5:
            hint = "they look normalised (0-1), not Hounsfield units"
        elif lo >= 0.0:
            hint = "all values are >= 0, as in an MRI or a label map, not Hounsfield units"
        else:
            hint = "no air is present"
        warnings.append("%s: intensities %.4g..%.4g contain nothing below %.0f HU (no air); %s"
                        % (name, lo, hi, AIR_HU, hint))
    if p999 < BONE_HU:
        warnings.append("%s: almost no values above %.0f HU (99.9th percentile %.4g): no bone, "
                        "so condyle and temporal bone cannot be found" % (name, BONE_HU, p999))
    if hi > MAX_PLAUSIBLE_HU or lo < MIN_PLAUSIBLE_HU:
        warnings.append("%s: intensities %.4g..%.4g are outside any CT Hounsfield range"
                        % (name, lo, hi))
    spacing = image.GetSpacing()
    if max(spacing) > COARSE_SPACING_MM:
        warnings.append("%s: voxel size %s mm is coarse for the TMJ (joint space is ~2-3 mm)"
                        % (name, " x ".join("%.3g" % s for s in spacing)))
    return warnings


KEPT_PIXEL_TYPES = (sitk.sitkInt8, sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16,
                    sitk.sitkFloat32)


def as_ct_pixels(image):
    """``image`` itself when its pixels are 8/16-bit integers or float32; an int16 copy when they
    are wider integers whose values all fit (:func:`.dicom.as_int16`); else a float32 copy.
    Copies keep the image's metadata (a DICOM series' identity and slice thickness)."""
    image = as_int16(image)
    if image.GetPixelID() in KEPT_PIXEL_TYPES:
        return image
    out = sitk.Cast(image, sitk.sitkFloat32)
    for key in image.GetMetaDataKeys():
        out.SetMetaData(key, image.GetMetaData(key))
    return out


def read_ct(path):
    """Read a CT (NIfTI, NRRD, MetaImage file or DICOM series folder); returns (image, warnings).

    image: 3D SimpleITK image in HU, geometry (origin, spacing mm, direction) as stored; 8- and
    16-bit integer pixels are kept as they are (a 0.2 mm CBCT is 2 GB of int16: a float32 copy
    would double it), wider integers that fit become int16 (:func:`as_ct_pixels`), anything else
    float32. Consumers resample crops to float32. A cohort folder (:func:`is_cohort_folder`) is
    read from its own DICOM files alone.
    warnings: list of one-line strings (intensities not CT-like, several DICOM series, ...).
    Raises InputError (one line naming ``path``) for anything that cannot be a 3D CT.
    """
    name = str(path)
    if not os.path.exists(path):
        raise InputError("%s: no such file or folder" % one_line(name))
    check_utf8_path(path, "CT")
    if os.path.isdir(path):
        cohort = is_cohort_folder(path)
        image, warnings, series = read_dicom_folder(path, name, below=not cohort)
        if cohort:
            warnings.insert(0, "%s: measured the DICOM files of this folder itself; its CT files "
                               "and subfolders are cases of their own" % name)
        _check_shape(image.GetDimension(), image.GetSize(),
                     image.GetNumberOfComponentsPerPixel(), name)
        image = _to_3d(image)
    else:
        if path.lower().endswith(SEGMENTATION_EXTENSION):
            raise InputError("%s: is a Slicer segmentation (.seg.nrrd), not a CT image" % name)
        if image_extension(path) is None and is_dicom_file(path):
            raise InputError(single_file_reason(path, "%s: this DICOM file" % name))
        if image_extension(path) is None:
            raise InputError("%s: unsupported file type; give a NIfTI (.nii, .nii.gz), NRRD "
                             "(.nrrd, .nhdr), MetaImage (.mha, .mhd) file or a DICOM folder" % name)
        if not os.access(path, os.R_OK):
            raise InputError("%s: file is not readable (permission denied)" % name)
        image, warnings, series = _read_file(path, name), [], None
        if unoriented_nifti(path):   # ITK reads it with its default axes (identity, LPS)
            warnings.append((NO_ORIENTATION + ": the patient's left/right are assumed from its "
                             "stored axes (the first axis toward the patient's left)") % name)
    check_direction(image, name)
    image = orthonormal(image, copy=False)   # read here: set in place
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError("%s: voxel spacing %s is not positive" % (name, tuple(spacing)))
    if not np.all(np.isfinite(image.GetOrigin())):
        raise InputError("%s: image origin is not a finite point" % name)
    image = as_ct_pixels(image)
    if image.GetPixelID() == sitk.sitkFloat32:
        array = sitk.GetArrayViewFromImage(image)
        if not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise InputError("%s: contains %d NaN or infinite voxel values" % (name, bad))
    warnings = list(warnings) + check_ct_like(image, name)
    if series is not None:
        tag_image(image, series)
    return image, warnings


def _is_case_file(path):
    base = os.path.basename(path)
    return (os.path.isfile(path) and not base.startswith(".")
            and image_extension(base) is not None
            and not base.lower().endswith(SEGMENTATION_EXTENSION))


def _listed(folder):
    """A folder's entries, sorted; InputError (one line) when it cannot be read."""
    try:
        return sorted(os.listdir(folder))
    except OSError as error:
        raise InputError("%s: cannot read folder: %s" % (folder, os_reason(error)))


def _utf8(path):
    """Whether ``path`` is valid UTF-8 (bytes that are not are kept by Python as surrogates)."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _add_file(path, files, skipped):
    """A CT file found in a folder: to ``files``, or, named as a label map, to ``skipped``."""
    if not is_label_name(path):
        files.append(path)
    elif skipped is not None:
        skipped.append(path)


def _case_entries(folder, skipped=None):
    """(CT files, subfolders) of ``folder`` that are cases when it is a cohort folder: its CT
    files and those of its subfolders without DICOM files (a folder per patient: ``pat01/
    ct.nrrd``), and its subfolders with DICOM files at any depth down to
    :data:`.dicom_files.SEARCH_DEPTH` or that cannot be read (their case then fails visibly);
    each list sorted by name. Files named as label maps (:func:`.case_names.is_label_name`) and
    subfolders holding a report.json (results written there) are not cases: ``skipped``, a
    list, receives them."""
    files, folders = [], []
    for entry in _listed(folder):
        full = os.path.join(folder, entry)
        if entry.startswith("."):
            continue
        if not _utf8(full):   # GDCM aborts the process on it: a case that fails with the reason
            if os.path.isdir(full) or image_extension(full):
                (folders if os.path.isdir(full) else files).append(full)
        elif _is_case_file(full):
            _add_file(full, files, skipped)
        elif os.path.isdir(full) and os.path.isfile(os.path.join(full, "report.json")):
            if skipped is not None:
                skipped.append(full)
        elif os.path.isdir(full) and (not os.access(full, os.R_OK | os.X_OK)
                                      or dicom_folders(full, limit=1) or dicom_series(full)):
            folders.append(full)
        elif os.path.isdir(full):   # before, "folder holds no CT files" or left out unsaid
            for inner in _listed(full):
                path = os.path.join(full, inner)
                if not inner.startswith(".") and _is_case_file(path):
                    _add_file(path, files, skipped)
    return files, folders


def _cohort(folder, files, folders):
    """Whether a folder with DICOM files of its own is a cohort folder: it also holds CT files,
    or subfolders with DICOM files of other studies (StudyInstanceUID)."""
    return bool(files) or (bool(folders) and len(study_uids(folder)) > 1)


def is_cohort_folder(folder):
    """Whether ``folder`` holds DICOM files of its own (a stray file, a series) beside cases:
    CT files, or subfolders with other studies' DICOM files. Its own files are then one case
    (read without its subfolders), each CT file and subfolder another (:func:`_expand_folder`)."""
    entries = [e for e in _listed(folder) if not e.startswith(".")]
    if not any(image_extension(e) or os.path.isdir(os.path.join(folder, e)) for e in entries):
        return False              # a plain series folder: nothing else to tell apart
    if not dicom_series(folder):
        return False
    return _cohort(folder, *_case_entries(folder))


def _expand_folder(folder, skipped=None):
    """Cases inside a folder, sorted by name: the folder itself when it holds a DICOM series and
    no other cases, or when it holds no CT file and all the DICOM files below it belong to one
    study (a study's series in subfolders, a CD of one study; none of them unreadable); else its
    CT files and its subfolders holding DICOM files at any depth down to
    :data:`.dicom_files.SEARCH_DEPTH` or unreadable (one case each: a patient's or a study's
    folder), and, first, the folder itself when it holds DICOM files of its own beside them (a
    cohort folder: :func:`is_cohort_folder`)."""
    files, folders = _case_entries(folder, skipped)
    own = bool(dicom_series(folder))
    if own and not _cohort(folder, files, folders):
        return [folder]
    if (not own and folders and not files and len(study_uids(folder)) == 1
            and all(os.access(f, os.R_OK | os.X_OK) for f in folders)):
        return [folder]           # one study (a subfolder we may not read: a case of its own)
    cases = ([folder] if own else []) + sorted(files + folders)
    if not cases:
        raise InputError("%s: folder holds no CT files (%s, in it or a subfolder) and no "
                         "DICOM series" % (folder, ", ".join(CT_EXTENSIONS)))
    return cases


def find_cases(paths, repeated=None, skipped=None, renamed=None):
    """Expand inputs into a list of (case name, path) for batch processing.

    Each input is a CT file, a DICOM folder (a series, or one study's series in it or in its
    subfolders), or a folder of cases (CT files, in it or in a folder per patient, and
    subfolders with DICOM files below them: :func:`_expand_folder`; ``skipped``, a list,
    receives the files named as label maps and the result folders found there), named by
    :func:`.case_names.case_names` (the one CT file of a patient's folder by that folder, several
    as ``<folder>_<file>``; names that would collide told apart by folder or file ending). A
    path that is the same file or folder as one before it (the same input twice, a link or hard
    link to it) is measured once: ``repeated``, a list, receives (that path, the path kept).
    ``renamed``, a dict, receives {path: the name it shares} for the names told apart. Missing
    inputs raise InputError.
    """
    if isinstance(paths, str):
        paths = [paths]
    found, preferred = [], {}
    for path in paths:
        if not os.path.exists(path):
            raise InputError("%s: no such file or folder" % one_line(path))
        check_utf8_path(path, "input")
        if not os.path.isdir(path):
            found.append(path)
            continue
        inside = _expand_folder(path, skipped)
        found.extend(inside)
        patients = {}
        for case in inside:   # files in a patient's folder inside the input folder
            holder = os.path.dirname(case)
            if not os.path.isdir(case) and os.path.normpath(holder) != os.path.normpath(path):
                patients.setdefault(holder, []).append(case)
        for holder, cases in patients.items():   # pat01/ct.nrrd: pat01; two: pat01_ct, ...
            patient = os.path.basename(holder)
            preferred.update((c, patient if len(cases) == 1
                              else "%s_%s" % (patient, case_name(c))) for c in cases)
    kept, seen = [], {}
    for path in found:
        key = identity(path)
        if key in seen:
            if repeated is not None:
                repeated.append((path, seen[key]))
            continue
        seen[key] = path
        kept.append(path)
    return list(zip(case_names(kept, preferred, renamed), kept))
