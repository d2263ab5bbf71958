"""Data augmentation for training: geometry as SimpleITK transforms, intensity on HU arrays.

Geometry is never applied to arrays: a random transform T (rotation and scaling about the patch
centre, then an optional smooth B-spline elastic deformation) maps points of the output patch grid
to points of the source image, and the CT and its labels are resampled from the SAME source images
with the SAME T (CT linear, labels nearest neighbour), so labels stay aligned with the image by
construction and no voxel is interpolated twice. All lengths are mm in LPS space.

- Flip across the sagittal plane: the patch grid's x direction is negated (a left joint then looks
  like a right one); labels carrying a side (docs/interfaces.md values 1-6) swap left and right with
  :func:`swap_sides`. Crop classes (background / MC / TB) carry no side and need no swap.
- Spacing change: the source CT is first resampled to a coarser random spacing (Gaussian
  pre-smoothing like a thicker slice), then to the patch grid; the labels are not degraded.
- Intensity (HU, CT only): contrast about the patch mean, shift, Gaussian blur, Gaussian noise;
  optionally a random monotone HU curve (each tissue's intensity moves on its own: air, fat, soft
  tissue, trabecular and cortical bone) and a smooth multiplicative field on the attenuation
  (HU + 1000; cupping and beam hardening) from TorchIO's RandomBiasField.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L


def rotation_matrix(angles_deg):
    """3x3 rotation about x, then y, then z (degrees, LPS axes)."""
    ax, ay, az = np.radians(np.asarray(angles_deg, float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz.dot(ry).dot(rx)


def affine_about(centre_lps, matrix):
    """SimpleITK affine x -> M (x - c) + c (maps output-grid points to source points)."""
    transform = sitk.AffineTransform(3)
    transform.SetCenter(tuple(float(v) for v in centre_lps))
    transform.SetMatrix(tuple(float(v) for v in np.asarray(matrix, float).ravel()))
    return transform


def elastic_transform(reference, rng, magnitude_mm, grid_mm):
    """Random smooth deformation on ``reference``'s extent: a cubic B-spline whose control-point
    displacements are N(0, magnitude_mm) per axis on a mesh of about ``grid_mm``."""
    extent = np.asarray(reference.GetSize()) * np.asarray(reference.GetSpacing())
    mesh = [max(1, int(round(e / grid_mm))) for e in extent]
    transform = sitk.BSplineTransformInitializer(reference, mesh, 3)
    n = len(transform.GetParameters())
    transform.SetParameters(tuple(float(v) for v in rng.normal(0.0, magnitude_mm, n)))
    return transform


def random_spatial(rng, reference, centre_lps, cfg):
    """A random SimpleITK transform for one sample (or an identity when all options are off).

    ``cfg`` is the config's ``augment`` section: rotation_deg (max |angle| per axis, uniform),
    scale [low, high] (isotropic, uniform), elastic {probability, magnitude_mm, grid_mm}.
    """
    angles = rng.uniform(-cfg["rotation_deg"], cfg["rotation_deg"], 3)
    scale = rng.uniform(cfg["scale"][0], cfg["scale"][1])
    composite = sitk.CompositeTransform(3)
    composite.AddTransform(affine_about(centre_lps, rotation_matrix(angles) * scale))
    elastic = cfg["elastic"]
    if elastic["magnitude_mm"] > 0 and rng.uniform() < elastic["probability"]:
        composite.AddTransform(elastic_transform(reference, rng, elastic["magnitude_mm"],
                                                 elastic["grid_mm"]))
    return composite


def flipped_reference(reference):
    """The same grid with its x direction negated about its centre: a sagittal mirror image."""
    size = np.asarray(reference.GetSize())
    spacing = np.asarray(reference.GetSpacing())
    d = np.array(reference.GetDirection()).reshape(3, 3)
    centre = np.asarray(reference.GetOrigin()) + d.dot(0.5 * (size - 1) * spacing)
    flip = d.dot(np.diag([-1.0, 1.0, 1.0]))
    out = sitk.Image([int(v) for v in size], reference.GetPixelID())
    out.SetSpacing(tuple(spacing))
    out.SetDirection(tuple(float(v) for v in flip.ravel()))
    out.SetOrigin(tuple(float(v) for v in centre - flip.dot(0.5 * (size - 1) * spacing)))
    return out


def swap_sides(label_array):
    """Label values of docs/interfaces.md with left and right exchanged (1<->2, 3<->4, 5<->6)."""
    lut = np.arange(256, dtype=np.uint8)
    for pair in (L.CONDYLE, L.TEMPORAL_BONE, L.NEGATIVE_VOLUME):
        lut[pair[L.LEFT]], lut[pair[L.RIGHT]] = pair[L.RIGHT], pair[L.LEFT]
    return lut[np.asarray(label_array, np.uint8)]


def coarser_spacing(ct, rng, max_mm):
    """``ct`` resampled to a random spacing between its own and ``max_mm`` per axis (x, y, z),
    Gaussian-smoothed first (sigma = half the new spacing), as a thicker-slice scan would be."""
    spacing = np.asarray(ct.GetSpacing(), float)
    target = np.maximum(spacing, [rng.uniform(min(s, m), max(s, m)) for s, m in zip(spacing, max_mm)])
    if np.allclose(target, spacing):
        return ct
    sigma = [float(0.5 * t) if t > s * 1.01 else 0.0 for t, s in zip(target, spacing)]
    smooth = ct
    for axis, value in enumerate(sigma):
        if value > 0:
            smooth = sitk.RecursiveGaussian(smooth, value, False, sitk.RecursiveGaussianImageFilter.ZeroOrder, axis)
    size = np.maximum(np.round(np.asarray(ct.GetSize()) * spacing / target).astype(int), 2)
    ref = sitk.Image([int(v) for v in size], sitk.sitkFloat32)
    ref.SetSpacing(tuple(float(v) for v in target))
    ref.SetDirection(ct.GetDirection())
    ref.SetOrigin(ct.GetOrigin())
    return sitk.Resample(smooth, ref, sitk.Transform(3, sitk.sitkIdentity), sitk.sitkLinear,
                         -1000.0, sitk.sitkFloat32)


# knots of the random HU curve: air, fat, soft tissue, trabecular bone, cortical bone, enamel/metal
TISSUE_KNOTS_HU = (-1000.0, -100.0, 40.0, 400.0, 1200.0, 3000.0)


def tissue_curve(array_hu, rng, jitter_hu):
    """HU through a random increasing piecewise-linear curve: each inner knot of
    TISSUE_KNOTS_HU moves by up to ``jitter_hu`` (uniform), kept in order; air stays air."""
    knots = np.asarray(TISSUE_KNOTS_HU)
    moved = knots.copy()
    moved[1:-1] += rng.uniform(-jitter_hu, jitter_hu, len(knots) - 2)
    moved = np.maximum.accumulate(np.maximum(moved, knots[0]))
    return np.interp(array_hu, knots, moved).astype(np.float32)


def attenuation_bias(array_hu, rng, coefficient):
    """HU after TorchIO's RandomBiasField (order 2, |coefficients| <= ``coefficient``) applied to
    the attenuation HU + 1000, seeded from ``rng`` without touching torch's global generator."""
    import torch
    import torchio as tio

    attenuation = np.ascontiguousarray(np.asarray(array_hu, np.float32) + 1000.0)
    image = tio.ScalarImage(tensor=torch.from_numpy(attenuation)[None])
    with torch.random.fork_rng(devices=[]):  # CPU only: also in forked batch workers
        torch.manual_seed(int(rng.integers(2 ** 31)))
        out = tio.RandomBiasField(coefficients=coefficient, order=2)(image)
    return (out.data[0].numpy() - 1000.0).astype(np.float32)


def intensity(array_hu, rng, cfg, spacing_zyx):
    """HU array after random contrast, shift, blur and noise (``cfg`` = augment.intensity), and,
    when ``cfg`` asks for them, a random tissue curve and an attenuation bias field first."""
    out = np.asarray(array_hu, np.float32)
    if cfg.get("tissue_hu", 0.0) > 0:
        out = tissue_curve(out, rng, cfg["tissue_hu"])
    if cfg.get("bias", 0.0) > 0:
        out = attenuation_bias(out, rng, cfg["bias"])
    mean = float(out.mean())
    out = (out - mean) * np.float32(rng.uniform(*cfg["contrast"])) + np.float32(mean)
    out = out + np.float32(rng.uniform(-cfg["shift_hu"], cfg["shift_hu"]))
    blur = rng.uniform(*cfg["blur_mm"])
    if blur > 0.05:
        out = ndimage.gaussian_filter(out, sigma=blur / np.asarray(spacing_zyx, float))
    noise = rng.uniform(*cfg["noise_hu"])
    if noise > 0:
        out = out + rng.normal(0.0, noise, out.shape).astype(np.float32)
    return out.astype(np.float32)
