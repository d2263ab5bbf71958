"""Whole-head coarse grids for the localiser and the symmetry search: axis-aligned LPS grids (mm),
identity direction, covering a CT's physical box, and the CT resampled onto them with a Gaussian
pre-smoothing (no aliasing).

:func:`aligned_grid` / :func:`smooth_resample` are training's grid (the localiser task);
:func:`anchored_grid` / :func:`smooth_resample_physical` inference's (voxel centres at multiples
of the spacing, a blur independent of the source spacing); :func:`shrink_for` block-averages a
fine CT first.
"""

import numpy as np
import SimpleITK as sitk

from .crops import crop_ct


def bounding_box(image):
    """(lo, hi) LPS mm of the physical box spanned by ``image``'s voxel centres (any direction)."""
    size = np.asarray(image.GetSize())
    corners = [image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in c))
               for c in np.array(np.meshgrid(*[[0, s - 1] for s in size])).reshape(3, -1).T]
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def aligned_grid(image, spacing_mm, pixel=sitk.sitkFloat32):
    """An identity-direction LPS grid at ``spacing_mm`` covering ``image``'s physical box."""
    lo, hi = bounding_box(image)
    spacing = np.asarray(spacing_mm, float)
    size = np.maximum(np.ceil((hi - lo) / spacing).astype(int) + 1, 1)
    ref = sitk.Image([int(v) for v in size], pixel)
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetOrigin(tuple(float(v) for v in 0.5 * (lo + hi) - 0.5 * (size - 1) * spacing))
    return ref


def smooth_resample(ct, reference, transform=None):
    """CT (float32 HU) on ``reference``, Gaussian-smoothed to the new spacing first (no aliasing)."""
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    sigma = [0.4 * t if t > 1.5 * s else 0.0 for t, s in zip(reference.GetSpacing(), ct.GetSpacing())]
    if max(sigma) > 0:
        ct = sitk.SmoothingRecursiveGaussian(ct, [max(v, 1e-3) for v in sigma])
    return crop_ct(ct, reference, transform)


def anchored_grid(image, spacing_mm, pixel=sitk.sitkFloat32):
    """An identity-direction LPS grid at ``spacing_mm`` covering ``image``'s physical box, its
    voxel centres at integer multiples of the spacing in LPS (inference only): two scans of one
    head on different voxel grids or fields of view get coarse voxels at the same physical
    points, where :func:`aligned_grid` (centred on the box) shifts them by up to half a voxel."""
    lo, hi = bounding_box(image)
    spacing = np.asarray(spacing_mm, float)
    first = np.floor(lo / spacing + 1e-6)
    last = np.ceil(hi / spacing - 1e-6)
    size = np.maximum(np.round(last - first).astype(int) + 1, 1)
    ref = sitk.Image([int(v) for v in size], pixel)
    ref.SetSpacing(tuple(float(v) for v in spacing))
    ref.SetOrigin(tuple(float(v) for v in first * spacing))
    return ref


def presmooth_sigma(source_spacing_mm, target_spacing_mm):
    """Gaussian sigma (mm, per axis) that, added to a voxel's own extent (a box of its spacing:
    variance s^2 / 12), blurs to sigma 0.4 x the target spacing: the same blur from any source
    spacing (inference only; :func:`smooth_resample` uses 0.4 x target whatever the source)."""
    out = []
    for t, s in zip(target_spacing_mm, source_spacing_mm):
        out.append(float(np.sqrt(max((0.4 * t) ** 2 - s * s / 12.0, 0.0))))
    return out


def smooth_resample_physical(ct, reference, transform=None):
    """CT (float32 HU) on ``reference``, pre-smoothed by :func:`presmooth_sigma` (a blur that
    depends on the target spacing only), then linear interpolation; air outside the scan."""
    ct = sitk.Cast(ct, sitk.sitkFloat32)
    sigma = presmooth_sigma(ct.GetSpacing(), reference.GetSpacing())
    if max(sigma) > 0:
        ct = sitk.SmoothingRecursiveGaussian(ct, [max(v, 1e-3) for v in sigma])
    return crop_ct(ct, reference, transform)


def shrink_for(ct, spacing_mm):
    """``ct`` block-averaged (BinShrink) by integer factors so that its voxels stay at most half
    the localiser spacing: the same physical extent, ~20x fewer voxels to smooth for a 0.5 mm CT
    and a 3 mm localiser. Block averages add far less blur than the localiser's own smoothing."""
    factors = [max(1, int(np.floor(t / (2.0 * s)))) for t, s in zip(spacing_mm, ct.GetSpacing())]
    if max(factors) == 1:
        return ct
    # BinShrink averages in the input's pixel type's accumulator and returns that type (under
    # 1 HU off for an integer CT); no full-size float copy of the CT is made
    return sitk.Cast(sitk.BinShrink(ct, factors), sitk.sitkFloat32)
