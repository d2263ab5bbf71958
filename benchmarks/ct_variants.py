"""The benign variants of one real head CT that benchmarks/real_ct_invariance.py measures.

Each variant is built with SimpleITK from the untouched scan, its geometry kept physical, and
comes with the known transform that maps a point of the variant (LPS mm) back onto the same
anatomical point of the untouched scan (``build_variant``); the kinds are listed at
:data:`VARIANTS`. No pipeline here: Testing/inference/test_invariance_variants.py checks these
builders against analytic balls.
"""

import collections
import os
import time

import numpy as np
import SimpleITK as sitk

HEAD_HU = -400.0       # tissue threshold for the head's centre and extent
AIR_HU = -1000.0       # value outside the untouched scan's field of view
GRID_MARGIN_VOXELS = 3


# name -> (kind, parameter): rotate degrees (about x, y, z; applied x first, then y, then z),
# resample spacing (mm), stored: the same voxels in another array order (sitk.DICOMOrient code:
# RAS as NIfTI converters write, ASL a sagittal stack; the same physical image), crop: the same
# voxels with a smaller field of view (voxels taken off the low and the high end of each array
# axis x, y, z), noise: Gaussian noise of sigma HU added (seed), a noisier (lower-dose) scan,
# gantry_tilt: the scan re-sliced as a DICOM series on planes tilted by that many degrees about
# the left-right axis (table steps along z) and read back with nvseg's DICOM reader, which
# resamples it onto an orthogonal grid, shift: linear resampling onto the scan's own grid moved
# by that fraction of a voxel along each array axis (x, y, z; where a scanner or a converter
# puts the voxels), smooth: a Gaussian blur of sigma mm (a softer reconstruction kernel: a
# bone and a soft-tissue kernel differ by about 0.4 mm)
VARIANTS = collections.OrderedDict([
    ("mirror", ("mirror", None)),
    ("rot_LR_+12", ("rotate", (12.0, 0.0, 0.0))),
    ("rot_AP_+10", ("rotate", (0.0, 10.0, 0.0))),
    ("rot_SI_+15", ("rotate", (0.0, 0.0, 15.0))),
    ("rot_LR+12_AP-8", ("rotate", (12.0, -8.0, 0.0))),
    ("rot_SI_+30", ("rotate", (0.0, 0.0, 30.0))),
    ("oblique_LR+12_AP-8", ("oblique", (12.0, -8.0, 0.0))),
    ("iso_0.5", ("resample", (0.5, 0.5, 0.5))),
    ("iso_0.7", ("resample", (0.7, 0.7, 0.7))),
    ("iso_1.0", ("resample", (1.0, 1.0, 1.0))),
    ("aniso_0.5x0.5x1.5", ("resample", (0.5, 0.5, 1.5))),
    ("stored_RAS", ("stored", "RAS")),
    ("stored_ASL", ("stored", "ASL")),
    ("cropped", ("crop", ((7, 0, 3), (0, 5, 0)))),
    ("noise_40HU", ("noise", (40.0, 1))),
    ("gantry_tilt_15", ("gantry_tilt", 15.0)),
    ("shift_half_voxel", ("shift", (0.5, 0.5, 0.5))),
    ("smooth_0.4", ("smooth", 0.4)),
    ("smooth_0.6", ("smooth", 0.6)),
])



# ---------------------------------------------------------------- variant builder (no pipeline)

def direction_matrix(image):
    return np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)


def image_centre(image):
    """Physical centre of the voxel grid (LPS mm)."""
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2.0 for s in image.GetSize()]), dtype=float)


def rotation_matrix(degrees):
    """R = Rz Ry Rx for right-handed rotations about the physical x, y, z axes (degrees)."""
    ax, ay, az = np.radians(np.asarray(degrees, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(matrix, centre):
    """sitk.AffineTransform p -> centre + matrix (p - centre)."""
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in np.asarray(matrix, dtype=float).ravel()])
    t.SetCenter([float(v) for v in centre])
    return t


def head_mask_stats(image):
    """(centroid LPS mm, index bounding box (lo, hi) as int arrays) of the voxels above HEAD_HU."""
    array = sitk.GetArrayViewFromImage(image)         # z, y, x
    mask = array > HEAD_HU
    if not mask.any():
        raise ValueError("no voxel above %.0f HU: no head in the image" % HEAD_HU)
    lo, hi, mean = [], [], []
    for axis in (2, 1, 0):                              # x, y, z in index order
        other = tuple(a for a in range(3) if a != axis)
        counts = mask.sum(axis=other)
        where = np.nonzero(counts)[0]
        lo.append(where[0])
        hi.append(where[-1])
        mean.append(float((counts * np.arange(counts.size)).sum()) / counts.sum())
    centroid = np.asarray(image.TransformContinuousIndexToPhysicalPoint(mean), dtype=float)
    return centroid, np.asarray(lo), np.asarray(hi)


def mirror_variant(image):
    """Array x flipped, geometry kept; to_original reflects across the grid's central plane
    normal to the array x axis."""
    array = sitk.GetArrayFromImage(image)[:, :, ::-1]
    out = sitk.GetImageFromArray(np.ascontiguousarray(array))
    out.CopyInformation(image)
    d = direction_matrix(image)
    to_original = affine(d @ np.diag([-1.0, 1.0, 1.0]) @ d.T, image_centre(image))
    return out, to_original


def rotate_variant(image, degrees, margin=GRID_MARGIN_VOXELS):
    """The head rotated by ``degrees`` about its tissue centroid, on a grid of the scan's spacing
    and direction covering the rotated head (its tissue bounding box) plus ``margin`` voxels."""
    centre, lo, hi = head_mask_stats(image)
    rot = rotation_matrix(degrees)
    d = direction_matrix(image)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    corners = []
    for cx in (lo[0] - 0.5, hi[0] + 0.5):
        for cy in (lo[1] - 0.5, hi[1] + 0.5):
            for cz in (lo[2] - 0.5, hi[2] + 0.5):
                p = np.asarray(image.TransformContinuousIndexToPhysicalPoint([cx, cy, cz]))
                corners.append(d.T @ (centre + rot @ (p - centre)))   # grid-axis coordinates
    corners = np.asarray(corners)
    first = corners.min(axis=0) - margin * spacing
    size = np.ceil((corners.max(axis=0) + margin * spacing - first) / spacing).astype(int)
    ref = sitk.Image([int(s) for s in size], image.GetPixelID())
    ref.SetSpacing([float(s) for s in spacing])
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin([float(v) for v in d @ (first + 0.5 * spacing)])
    to_original = affine(rot.T, centre)     # variant point -> the scan's point
    out = sitk.Resample(image, ref, to_original, sitk.sitkLinear, AIR_HU, image.GetPixelID())
    return out, to_original


def oblique_variant(image, degrees):
    """The same voxels with the head rotated by ``degrees`` about its tissue centroid through
    the geometry alone: direction cosines and origin rotated, no resampling (an oblique
    acquisition or reconstruction of the same head)."""
    centre = head_mask_stats(image)[0]
    rot = rotation_matrix(degrees)
    out = sitk.Image(image)
    out.SetDirection([float(v) for v in (rot @ direction_matrix(image)).ravel()])
    out.SetOrigin([float(v) for v in centre + rot @ (np.asarray(image.GetOrigin()) - centre)])
    return out, affine(rot.T, centre)   # variant point -> the scan's point


def resample_variant(image, spacing):
    """Linear resampling onto ``spacing`` over the scan's extent (voxel edges kept)."""
    old = np.asarray(image.GetSpacing(), dtype=float)
    new = np.asarray(spacing, dtype=float)
    size = np.maximum(1, np.round(np.asarray(image.GetSize()) * old / new)).astype(int)
    d = direction_matrix(image)
    origin = np.asarray(image.GetOrigin(), dtype=float) + d @ (0.5 * (new - old))
    ref = sitk.Image([int(s) for s in size], image.GetPixelID())
    ref.SetSpacing([float(s) for s in new])
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin([float(v) for v in origin])
    to_original = sitk.TranslationTransform(3)      # identity: the geometry is physical
    out = sitk.Resample(image, ref, to_original, sitk.sitkLinear, AIR_HU, image.GetPixelID())
    return out, to_original


def shift_variant(image, fractions):
    """Linear resampling onto the scan's spacing and direction with the origin moved by
    ``fractions`` of a voxel along each array axis (one voxel fewer along a moved axis, so
    that every voxel lies inside the scan)."""
    f = np.asarray(fractions, dtype=float)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    size = np.asarray(image.GetSize()) - (f != 0)
    ref = sitk.Image([int(v) for v in size], image.GetPixelID())
    ref.SetSpacing(image.GetSpacing())
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin([float(v) for v in np.asarray(image.GetOrigin()) +
                   direction_matrix(image) @ (f * spacing)])
    to_original = sitk.TranslationTransform(3)      # identity: the head has not moved
    out = sitk.Resample(image, ref, to_original, sitk.sitkLinear, AIR_HU, image.GetPixelID())
    return out, to_original


def smooth_variant(image, sigma_mm):
    """The scan blurred by a Gaussian of ``sigma_mm`` (physical, every axis), rounded back to
    the scan's pixel type."""
    out = sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32), float(sigma_mm))
    out = sitk.Cast(sitk.Round(out), image.GetPixelID())
    return out, sitk.TranslationTransform(3)


def gantry_tilt_variant(image, degrees, step_mm=1.0):
    """The scan as a gantry-tilted CT series: slices of the scan's in-plane size and spacing on
    planes whose column axis is tilted by ``degrees`` about LPS x, one every ``step_mm`` of table
    travel (LPS z) over the whole head, written as DICOM (position, orientation, rescale, gantry
    tilt tags) and read back with the library's reader (the gantry tilt corrected there)."""
    import tempfile

    from NegativeVolumeSegmentationLib.io.ct import read_ct

    t = np.radians(degrees)
    cy, cz = float("%.8f" % np.cos(t)), float("%.8f" % np.sin(t))
    column = np.array([0.0, cy, cz]) / np.hypot(cy, cz)
    d = direction_matrix(image)
    spacing = np.asarray(image.GetSpacing(), float)
    size = np.asarray(image.GetSize(), int)
    lo = np.asarray(image.GetOrigin(), float)
    hi = np.asarray(image.TransformIndexToPhysicalPoint([int(v) - 1 for v in size]), float)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if not np.allclose(d, np.eye(3)):
        raise ValueError("gantry_tilt needs a scan stored in LPS order")
    height = (size[1] - 1) * spacing[1]
    tables = np.arange(lo[2] - height * abs(cz), hi[2] + step_mm, step_mm)
    stamp = time.strftime("%Y%m%d%H%M%S")
    series = "1.2.826.0.1.3680043.2.1125.%s.%d" % (stamp, os.getpid())
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    plane = np.column_stack([[1.0, 0.0, 0.0], column, np.cross([1.0, 0.0, 0.0], column)])
    with tempfile.TemporaryDirectory() as folder:
        for i, z in enumerate(tables):
            ref = sitk.Image([int(size[0]), int(size[1]), 1], sitk.sitkInt16)
            ref.SetSpacing([float(spacing[0]), float(spacing[1]), 1.0])
            ref.SetOrigin([float(lo[0]), float(lo[1]), float(z)])
            ref.SetDirection([float(v) for v in plane.ravel()])
            values = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkLinear, AIR_HU,
                                   sitk.sitkInt16)
            out = sitk.GetImageFromArray(sitk.GetArrayFromImage(values)[0])
            out.SetSpacing([float(spacing[0]), float(spacing[1])])   # the writer's PixelSpacing
            for key, value in (("0008|0060", "CT"), ("0020|000d", series + ".0"),
                               ("0020|000e", series), ("0020|0013", str(i + 1)),
                               ("0020|0032", "%.4f\\%.4f\\%.4f" % (lo[0], lo[1], z)),
                               ("0020|0037", "1\\0\\0\\0\\%.8f\\%.8f" % (cy, cz)),
                               ("0028|0030", "%g\\%g" % (spacing[1], spacing[0])),
                               ("0018|0050", "%g" % step_mm), ("0018|1120", "%g" % degrees),
                               ("0028|1052", "0"), ("0028|1053", "1")):
                out.SetMetaData(key, value)
            writer.SetFileName(os.path.join(folder, "slice%04d.dcm" % i))
            writer.Execute(out)
        corrected, _warnings = read_ct(folder)
    return corrected, sitk.TranslationTransform(3)


def is_identity(image, name):
    kind, parameter = VARIANTS[name]
    return kind == "resample" and np.allclose(image.GetSpacing(), parameter, atol=1e-6)


def noise_variant(image, parameter):
    """Gaussian noise of ``parameter`` = (sigma HU, seed) added to every voxel (int16 kept)."""
    sigma, seed = parameter
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    array += np.random.default_rng(seed).normal(0.0, sigma, array.shape).astype(np.float32)
    out = sitk.GetImageFromArray(np.clip(np.rint(array), -32768, 32767).astype(np.int16))
    out.CopyInformation(image)
    return out, sitk.TranslationTransform(3)


def crop_variant(image, parameter):
    """The same voxels with ``parameter`` = (low, high) voxels taken off each array axis."""
    low, high = parameter
    out = sitk.Crop(image, [int(v) for v in low], [int(v) for v in high])
    return out, sitk.TranslationTransform(3)


def stored_variant(image, code):
    """The same voxels stored in the array order of DICOMOrient ``code``."""
    return sitk.DICOMOrient(image, code), sitk.TranslationTransform(3)


# kind -> builder(image, parameter) -> (variant image, transform to the untouched scan)
BUILDERS = {"mirror": lambda image, _: mirror_variant(image), "rotate": rotate_variant,
            "oblique": oblique_variant,
            "resample": resample_variant, "stored": stored_variant,
            "gantry_tilt": gantry_tilt_variant, "noise": noise_variant, "shift": shift_variant,
            "smooth": smooth_variant, "crop": crop_variant}


def build_variant(image, name):
    """(variant image, sitk transform mapping a variant point (LPS mm) to the untouched scan's
    point of the same anatomy, sides swapped: bool)."""
    kind, parameter = VARIANTS[name]
    if kind not in BUILDERS:
        raise ValueError("unknown variant kind %r" % kind)
    out, to_original = BUILDERS[kind](image, parameter)
    return out, to_original, kind == "mirror"
