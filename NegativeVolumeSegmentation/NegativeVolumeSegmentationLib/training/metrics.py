"""Segmentation scores in physical units (numpy/scipy only): Dice %, HD, HD95, ASSD in mm, CE.

Arrays are boolean masks (or label maps) on one voxel grid; ``spacing`` is the voxel size in mm
per ARRAY AXIS, in the array's axis order (for a SimpleITK image: ``image.GetSpacing()[::-1]``,
which :func:`scores_from_images` does for you). Anisotropic spacing is supported. Distances are
physical: with an orthonormal direction matrix they do not depend on the image orientation.

Definitions (A = prediction, B = truth):
- Dice % = 100 * 2 |A and B| / (|A| + |B|). Both empty: 100. One empty: 0.
- Surface S(M) of a mask M: the voxels of M with at least one of their 6 face neighbours outside
  M (outside the array counts as outside). Points are the voxel centres.
- Directed distances d(A->B): for every voxel of S(A), the Euclidean distance in mm to the
  nearest voxel centre of S(B) (scipy.ndimage.distance_transform_edt with ``sampling=spacing``).
- HD (Hausdorff, mm) = max(max d(A->B), max d(B->A)).
- HD95 (mm) = max(P95 d(A->B), P95 d(B->A)), P95 = numpy's 95th percentile with linear
  interpolation over the surface voxels of each direction (the MedPy convention; not weighted
  by surface area).
- ASSD (mm) = (sum d(A->B) + sum d(B->A)) / (|S(A)| + |S(B)|).
- Empty masks: both empty -> HD = HD95 = ASSD = 0; exactly one empty -> inf (no surface to
  measure to). Aggregate with care: a mean over cases is then inf, on purpose.
- Cross-entropy (nats) = mean over voxels of -log(max(p_truth, eps)), p = predicted probabilities.
"""

import math

import numpy as np
from scipy import ndimage

from ..errors import InputError



def _mask(array, name):
    array = np.asarray(array)
    if array.ndim < 1:
        raise InputError("%s must be an array, got a scalar" % name)
    return array.astype(bool, copy=False)


def _pair(prediction, truth):
    a, b = _mask(prediction, "prediction"), _mask(truth, "truth")
    if a.shape != b.shape:
        raise InputError("prediction shape %s differs from truth shape %s" % (a.shape, b.shape))
    return a, b


def _spacing(spacing, ndim):
    if spacing is None:
        return np.ones(ndim)
    spacing = np.asarray(spacing, dtype=float).ravel()
    if spacing.size != ndim or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError("spacing must be %d positive numbers (mm per array axis), got %s"
                         % (ndim, list(spacing)))
    return spacing


def dice_percent(prediction, truth):
    """Dice overlap in percent (both empty: 100, one empty: 0)."""
    a, b = _pair(prediction, truth)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 100.0
    return 200.0 * int(np.logical_and(a, b).sum()) / total


def surface(mask):
    """Boolean surface of ``mask``: voxels of the mask with a face neighbour outside it."""
    mask = _mask(mask, "mask")
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def directed_surface_distances(source, target, spacing=None):
    """Distances (mm) from each surface voxel of ``source`` to the nearest surface voxel of ``target``.

    1-D array, one value per surface voxel of ``source`` (in C order). Raises when ``target``
    is empty (no distance exists); an empty ``source`` gives an empty array.
    """
    a, b = _pair(source, target)
    spacing = _spacing(spacing, a.ndim)
    surface_a, surface_b = surface(a), surface(b)
    if not surface_b.any():
        raise InputError("target mask is empty: no surface distance exists")
    if not surface_a.any():
        return np.zeros(0)
    distance_to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing)
    return distance_to_b[surface_a]


def crop_to_union(a, b):
    """Both masks cut to the bounding box of a | b plus one voxel (clipped to the array).

    Surfaces and surface distances are unchanged by this cut: every surface voxel lies inside
    the box, and a voxel on the box's edge has an outside neighbour either way.
    """
    union = a | b
    box = []
    for axis in range(union.ndim):
        other = tuple(i for i in range(union.ndim) if i != axis)
        hits = np.flatnonzero(union.any(axis=other))
        box.append(slice(max(hits[0] - 1, 0), min(hits[-1] + 2, union.shape[axis])))
    return a[tuple(box)], b[tuple(box)]


def surface_distances(prediction, truth, spacing=None):
    """{"hd_mm", "hd95_mm", "assd_mm"} of two masks (definitions and empty cases: module docstring)."""
    a, b = _pair(prediction, truth)
    spacing = _spacing(spacing, a.ndim)
    if not a.any() and not b.any():
        return {"hd_mm": 0.0, "hd95_mm": 0.0, "assd_mm": 0.0}
    if not a.any() or not b.any():
        return {"hd_mm": math.inf, "hd95_mm": math.inf, "assd_mm": math.inf}
    a, b = crop_to_union(a, b)  # speed only: large CT grids, small structures
    ab = directed_surface_distances(a, b, spacing)
    ba = directed_surface_distances(b, a, spacing)
    return {
        "hd_mm": float(max(ab.max(), ba.max())),
        "hd95_mm": float(max(np.percentile(ab, 95), np.percentile(ba, 95))),
        "assd_mm": float((ab.sum() + ba.sum()) / (ab.size + ba.size)),
    }


def cross_entropy(probabilities, truth, eps=1e-7):
    """Mean multi-class cross-entropy (nats) of C x spatial probabilities against integer labels.

    ``probabilities[c]`` is the predicted probability of class c (class axis first, e.g. softmax
    output of one sample); ``truth`` holds class indices 0..C-1 with the spatial shape.
    Probabilities are clipped to [eps, 1] before the logarithm.
    """
    probs = np.asarray(probabilities, dtype=float)
    labels = np.asarray(truth)
    if probs.shape[1:] != labels.shape:
        raise InputError("probabilities shape %s does not match truth shape %s (class axis first)"
                         % (probs.shape, labels.shape))
    if labels.size == 0:
        raise InputError("truth is empty")
    if labels.min() < 0 or labels.max() >= probs.shape[0]:
        raise InputError("truth labels must lie in 0..%d" % (probs.shape[0] - 1))
    picked = np.take_along_axis(probs, labels[None].astype(np.intp), axis=0)[0]
    return float(-np.log(np.clip(picked, eps, 1.0)).mean())


def binary_cross_entropy(probability, truth, eps=1e-7):
    """Mean binary cross-entropy (nats) of one structure's probability map against its mask."""
    p = np.clip(np.asarray(probability, dtype=float), eps, 1.0 - eps)
    t = _mask(truth, "truth")
    if p.shape != t.shape:
        raise InputError("probability shape %s does not match truth shape %s" % (p.shape, t.shape))
    return float(-(np.log(p[t]).sum() + np.log(1.0 - p[~t]).sum()) / t.size)


def structure_scores(prediction, truth, spacing=None):
    """Dice %, HD, HD95, ASSD (mm) and both volumes (mm^3) of one structure's masks."""
    a, b = _pair(prediction, truth)
    spacing = _spacing(spacing, a.ndim)
    voxel = float(np.prod(spacing))
    scores = {"dice_percent": dice_percent(a, b)}
    scores.update(surface_distances(a, b, spacing))
    scores["predicted_volume_mm3"] = float(a.sum()) * voxel
    scores["truth_volume_mm3"] = float(b.sum()) * voxel
    return scores


def label_scores(prediction, truth, labels, spacing=None):
    """Per structure scores of two label maps: {name: structure_scores} for ``labels`` {name: value}."""
    a, b = np.asarray(prediction), np.asarray(truth)
    if a.shape != b.shape:
        raise InputError("prediction shape %s differs from truth shape %s" % (a.shape, b.shape))
    return {name: structure_scores(a == value, b == value, spacing) for name, value in labels.items()}


def scores_from_images(prediction_image, truth_image, labels):
    """label_scores of two SimpleITK label images that must share one grid (spacing from the image)."""
    import SimpleITK as sitk

    checks = (("size", "GetSize"), ("spacing", "GetSpacing"), ("origin", "GetOrigin"),
              ("direction", "GetDirection"))
    for what, getter in checks:
        p, t = getattr(prediction_image, getter)(), getattr(truth_image, getter)()
        if not np.allclose(p, t, atol=1e-4):
            raise InputError("prediction and truth images differ in %s: %s vs %s" % (what, p, t))
    spacing = prediction_image.GetSpacing()[::-1]  # array axes are z, y, x
    return label_scores(sitk.GetArrayViewFromImage(prediction_image),
                        sitk.GetArrayViewFromImage(truth_image), labels, spacing)
