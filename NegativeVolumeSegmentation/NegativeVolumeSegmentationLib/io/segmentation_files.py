"""Writing and reading the label map (values 1-6 of ``labels.SEGMENTS``) as NIfTI or Slicer .seg.nrrd.

Geometry is physical LPS mm throughout: a label image's origin, spacing and direction are written
so that every voxel keeps its physical position (``.seg.nrrd`` stores ``space:
left-posterior-superior``, ``space directions`` = direction · diag(spacing) columns, ``space
origin`` = origin, all with 17 significant digits, so the round trip is exact to double precision;
NIfTI stores float32 qform/sform and pixdim, exact to ~1e-5 mm for origins of a few hundred mm).

The ``.seg.nrrd`` always holds all six segments in label order (value 1 = Segment0, ...), each with
its name, colour and label value from ``labels.SEGMENTS`` in one layer, so a segment missing from
the image (e.g. a side outside the field of view) is present but empty and can be painted in
Slicer. Every segment's extent is the full grid (Slicer reads one shared layer with the first
segment's extent, so a smaller first extent would crop the others). Names and colours are marked
not auto-generated so Slicer keeps them.

All writes go to a temporary file in the target folder, then :func:`os.replace`, so a failed write
never leaves a half-written file under the final name.
"""

import contextlib
import os
import uuid

import numpy as np
import SimpleITK as sitk

from .. import labels
from .ct import FORMAT_NAMES, check_direction, check_nifti_data, image_extension
from ..errors import InputError

SEGMENTATION_EXTENSION = ".seg.nrrd"
MAX_LABEL = max(s.value for s in labels.SEGMENTS)
_NAME_TO_VALUE = dict((s.name.lower(), s.value) for s in labels.SEGMENTS)


def segment_id(segment):
    """Stable segment ID used in .seg.nrrd, e.g. ``LeftMandibularCondyle``."""
    return "".join(word.capitalize() for word in segment.name.split())


def ijk_to_lps(image):
    """4x4 matrix from voxel index (i, j, k) to LPS mm: [direction · diag(spacing) | origin]."""
    matrix = np.eye(4)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=float)[np.newaxis, :]
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def image_from_ijk(voxels_ijk, matrix):
    """SimpleITK image from an (i, j, k)-ordered array and its 4x4 index-to-LPS matrix."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(voxels_ijk, (2, 1, 0))))
    columns = np.asarray(matrix, dtype=float)[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (columns / spacing[np.newaxis, :]).ravel()])
    image.SetOrigin([float(v) for v in np.asarray(matrix, dtype=float)[:3, 3]])
    return image


def _label_array(label_image):
    """uint8 (k, j, i) array of a 3D label image; ValueError unless values are in 0..6."""
    if label_image.GetDimension() != 3 or label_image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("label map must be a 3D scalar image")
    array = sitk.GetArrayViewFromImage(label_image)
    values = np.unique(array)
    bad = [v for v in values.tolist() if v != int(v) or not 0 <= v <= MAX_LABEL]
    if bad:
        raise ValueError("label map holds values %s outside 0..%d" % (bad[:5], MAX_LABEL))
    return np.asarray(array, dtype=np.uint8)


@contextlib.contextmanager
def _atomic_path(path):
    """Yield a temporary path beside ``path`` (same ending); move it onto ``path`` on success."""
    path = os.path.abspath(path)
    folder, base = os.path.split(path)
    ending = SEGMENTATION_EXTENSION if base.lower().endswith(SEGMENTATION_EXTENSION) \
        else (image_extension(base) or "")
    # a fresh unique name that the writer creates itself, so the file gets the usual permissions
    # (umask) rather than mkstemp's owner-only 0600
    temporary = os.path.join(folder, ".partial-%d-%s%s" % (os.getpid(), uuid.uuid4().hex, ending))
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_label_image(label_image, path):
    """Write a label map as a uint8 image file (.nii.gz, .nii, .nrrd, .mha); returns ``path``."""
    if image_extension(path) is None:
        raise ValueError("label map file must end with one of %s" % ", ".join(FORMAT_NAMES))
    array = _label_array(label_image)
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(label_image)
    with _atomic_path(path) as temporary:
        sitk.WriteImage(out, temporary, True)
    return path


def write_segmentation_nrrd(label_image, path):
    """Write a label map as a Slicer ``.seg.nrrd`` with all six named, coloured segments."""
    import slicerio

    if not path.lower().endswith(SEGMENTATION_EXTENSION):
        raise ValueError("segmentation file must end with %s" % SEGMENTATION_EXTENSION)
    voxels = np.ascontiguousarray(np.transpose(_label_array(label_image), (2, 1, 0)))
    full_extent = [0, voxels.shape[0] - 1, 0, voxels.shape[1] - 1, 0, voxels.shape[2] - 1]
    segments = []
    for segment in labels.SEGMENTS:
        segments.append({
            "id": segment_id(segment),
            "name": segment.name,
            "nameAutoGenerated": False,
            "color": [float(c) for c in segment.color],
            "colorAutoGenerated": False,
            "labelValue": int(segment.value),
            "layer": 0,
            "extent": full_extent,
        })
    segmentation = {
        "voxels": voxels,
        "ijkToLPS": ijk_to_lps(label_image),
        "containedRepresentationNames": ["Binary labelmap", "Closed surface"],
        "masterRepresentation": "Binary labelmap",
        "referenceImageExtentOffset": [0, 0, 0],
        "segments": segments,
    }
    with _atomic_path(path) as temporary:
        slicerio.write_segmentation(temporary, segmentation)
    return path


def write_label_map(label_image, path):
    """Write a label map, as .seg.nrrd when ``path`` ends so, otherwise as a uint8 image file."""
    if str(path).lower().endswith(SEGMENTATION_EXTENSION):
        return write_segmentation_nrrd(label_image, path)
    return write_label_image(label_image, path)


def _segment_value(segment, name):
    """Our label value for a segment read from a .seg.nrrd, matched by its name."""
    segment_name = str(segment.get("name", segment.get("id", ""))).strip()
    value = _NAME_TO_VALUE.get(segment_name.lower())
    if value is None:
        raise InputError("%s: segment '%s' is not one of the known segments (%s)"
                         % (name, segment_name, ", ".join(s.name for s in labels.SEGMENTS)))
    return value


def _read_seg_nrrd(path, name):
    """Label image from a .seg.nrrd; segments are matched by name, later label values win overlaps."""
    import slicerio

    try:
        segmentation = slicerio.read_segmentation(path)
    except Exception:
        raise InputError("%s: cannot read it as a Slicer segmentation (.seg.nrrd)" % name)
    voxels = segmentation.get("voxels")
    if voxels is None or voxels.ndim not in (3, 4):
        raise InputError("%s: segmentation has no 3D voxel data" % name)
    out = np.zeros(voxels.shape[-3:], dtype=np.uint8)
    found = sorted(((_segment_value(s, name), s) for s in segmentation.get("segments", [])),
                   key=lambda item: item[0])
    for value, segment in found:
        out[slicerio.segment_mask(segmentation, segment)] = value
    return image_from_ijk(out, segmentation["ijkToLPS"])


def _read_label_file(path, name):
    """Label image from a NIfTI / NRRD / MetaImage file holding integer values 0..6."""
    fmt = FORMAT_NAMES[image_extension(path)]
    try:
        image = sitk.ReadImage(path)
    except RuntimeError:
        raise InputError("%s: cannot read it as a %s label map (corrupt file or not in that format)"
                         % (name, fmt))
    if fmt == "NIfTI":
        check_nifti_data(path, name)
    while image.GetDimension() > 3 and image.GetSize()[-1] == 1:
        size = list(image.GetSize())
        image = sitk.Extract(image, size[:-1] + [0], [0] * len(size))
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("%s: label map has several components per voxel" % name)
    if image.GetDimension() != 3:
        raise InputError("%s: label map is %dD; a 3D label map is needed"
                         % (name, image.GetDimension()))
    check_direction(image, name)
    array = sitk.GetArrayViewFromImage(image)
    values = np.unique(array)
    bad = [v for v in values.tolist() if not np.isfinite(v) or v != int(v) or not 0 <= v <= MAX_LABEL]
    if bad:
        raise InputError("%s: label map holds values %s; only 0 (background) and 1..%d are allowed"
                         % (name, ", ".join("%g" % v for v in bad[:5]), MAX_LABEL))
    out = sitk.GetImageFromArray(np.asarray(array, dtype=np.uint8))
    out.CopyInformation(image)
    return out


def read_label_map(path):
    """Read a label map (.seg.nrrd, .nii.gz, .nii, .nrrd, .nhdr, .mha, .mhd) as a uint8 image.

    Values are those of ``labels.SEGMENTS`` (a .seg.nrrd's segments are matched by name, so a file
    re-saved by Slicer with other label values or layers reads back the same); geometry (origin,
    spacing mm, direction, LPS) is the file's. Raises InputError with one line naming ``path``.
    """
    name = str(path)
    if not os.path.exists(path):
        raise InputError("%s: no such file" % name)
    if os.path.isdir(path):
        raise InputError("%s: is a folder; a label map file is needed" % name)
    if path.lower().endswith(SEGMENTATION_EXTENSION):
        image = _read_seg_nrrd(path, name)
    elif image_extension(path) is not None:
        image = _read_label_file(path, name)
    else:
        raise InputError("%s: unsupported label map type; give a .seg.nrrd, NIfTI, NRRD or "
                         "MetaImage file" % name)
    check_direction(image, name)
    return image
