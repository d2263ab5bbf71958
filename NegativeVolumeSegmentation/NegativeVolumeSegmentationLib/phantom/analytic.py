"""Analytic TMJ phantom: a sphere or ellipsoid condyle under a concentric fossa cap.

Both joints are in one image, the patient's left joint at x ~ +50 mm LPS and the right one at
x ~ -50 mm. All lengths are mm, points are LPS mm (+x left, +y posterior, +z superior).

Per joint (each side draws its own parameters from the seed unless they are given):

- ``sphere``: condyle = ball of radius ``condyle_radius_mm`` (r) around the condyle centre c;
  temporal bone (TB) = spherical shell R <= |p - c| <= R + ``tb_thickness_mm`` restricted to the
  cone of half-angle ``cap_half_angle_deg`` (theta) around superior (the cap opens downward), with
  R = r + ``joint_space_mm``. Negative volume (NV) = r < |p - c| < R inside that cone:
  NV = (2 pi (1 - cos theta) / 3) (R^3 - r^3) exactly.
- ``ellipsoid``: condyle = ellipsoid with semi-axes ``semi_axes_mm`` (along x, y, z); TB = the
  points p = x + t n(x), delta <= t <= delta + thickness, for the ellipsoid's points x whose outward
  normal n(x) lies within theta of superior (delta = ``joint_space_mm``). NV = 0 < t < delta over
  the same normals; its volume is the Steiner integral (:mod:`.analytic_truth`).

``rotation_axis`` / ``rotation_deg`` rotate a joint's geometry about its condyle centre (the image
grid stays axis aligned). Labels are assigned at voxel centres: 1/2 MC, 3/4 TB, 5/6 NV.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .. import labels as L
from ..errors import InputError
from .case import Phantom
from .analytic_truth import (ellipsoid_foot_points, ellipsoid_negative_volume, rotation_matrix, sphere_cap_negative_volume)

VARIANTS = ("sphere", "ellipsoid")
BONE_HU = 1200.0
SOFT_TISSUE_HU = 40.0
AIR_MARGIN_MM = 2.0
SIDE_CENTRE_X_MM = {L.LEFT: 50.0, L.RIGHT: -50.0}


def _draw_joint(rng, variant, side):
    """Random parameters of one joint (mm, degrees), drawn from ``rng``."""
    centre = [SIDE_CENTRE_X_MM[side] + rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0),
              rng.uniform(-1.0, 1.0)]
    params = {
        "center_lps_mm": centre,
        "joint_space_mm": float(rng.uniform(0.5, 5.0)),
        "cap_half_angle_deg": float(rng.uniform(30.0, 80.0)),
        "tb_thickness_mm": 3.0,
        "rotation_axis": [0.0, 0.0, 1.0],
        "rotation_deg": 0.0,
    }
    if variant == "sphere":
        params["condyle_radius_mm"] = float(rng.uniform(4.0, 8.0))
    else:
        params["semi_axes_mm"] = [float(rng.uniform(8.5, 11.0)), float(rng.uniform(4.0, 5.0)),
                                  float(rng.uniform(4.5, 5.5))]
    return params


def _outer_radius(params, variant):
    """Radius (mm) of a ball around the condyle centre holding the whole joint geometry."""
    if variant == "sphere":
        core = params["condyle_radius_mm"]
    else:
        core = max(params["semi_axes_mm"])
    return core + params["joint_space_mm"] + params["tb_thickness_mm"]


def _joint_labels(points, params, variant):
    """Classify LPS points (N, 3) of one joint: 0 none, 1 condyle, 2 TB, 3 NV."""
    centre = np.asarray(params["center_lps_mm"], float)
    rot = rotation_matrix(params["rotation_axis"], params["rotation_deg"])
    # Geometry frame: undo the joint's rotation (row vectors: q = R^T (p - c)).
    q = (points - centre) @ rot
    gap = params["joint_space_mm"]
    thick = params["tb_thickness_mm"]
    cos_theta = np.cos(np.radians(params["cap_half_angle_deg"]))
    out = np.zeros(len(q), np.uint8)
    if variant == "sphere":
        r = params["condyle_radius_mm"]
        rho = np.linalg.norm(q, axis=1)
        inside = rho <= r
        with np.errstate(invalid="ignore", divide="ignore"):
            cos_polar = np.where(rho > 0, q[:, 2] / np.maximum(rho, 1e-12), 1.0)
        in_cone = cos_polar >= cos_theta
        dist = rho - r
    else:
        axes = np.asarray(params["semi_axes_mm"], float)
        scale = np.sqrt(np.sum((q / axes) ** 2, axis=1))
        inside = scale <= 1.0
        dist = np.full(len(q), np.inf)
        in_cone = np.zeros(len(q), bool)
        # q lies on the ellipsoid scaled by ``scale``: its distance is >= (scale - 1) min(axes),
        # so points farther than the TB's outer surface need no foot point.
        outside = ~inside & ((scale - 1.0) * axes.min() <= gap + thick + 1e-6)
        if np.any(outside):
            _foot, normal, d = ellipsoid_foot_points(q[outside], axes)
            dist[outside] = d
            in_cone[outside] = normal[:, 2] >= cos_theta
    out[inside] = 1
    out[~inside & in_cone & (dist >= gap) & (dist <= gap + thick)] = 2
    out[~inside & in_cone & (dist > 0) & (dist < gap)] = 3
    return out


def _joint_truth(params, variant):
    """Exact truth of one joint: NV and condyle volume (mm^3), condyle centroid (LPS mm)."""
    theta = params["cap_half_angle_deg"]
    gap = params["joint_space_mm"]
    if variant == "sphere":
        r = params["condyle_radius_mm"]
        nv = sphere_cap_negative_volume(r, r + gap, theta)
        condyle = 4.0 / 3.0 * np.pi * r ** 3
    else:
        axes = params["semi_axes_mm"]
        nv = ellipsoid_negative_volume(axes, gap, theta)
        condyle = 4.0 / 3.0 * np.pi * float(np.prod(axes))
    return {
        "negative_volume_mm3": float(nv),
        "condyle_volume_mm3": float(condyle),
        "condyle_center_lps_mm": [float(v) for v in params["center_lps_mm"]],
        "joint_space_mm": float(gap),
    }


def make_analytic_phantom(seed=0, variant="sphere", spacing=(0.5, 0.5, 0.5), sides=L.SIDES,
                          left=None, right=None, blur_mm=0.4, noise_hu=10.0, **overrides):
    """Build an analytic two-joint phantom.

    Args:
        seed: random seed for each joint's parameters, the grid offset and the CT noise.
        variant: "sphere" or "ellipsoid".
        spacing: voxel size (mm) along x, y, z; the grid is axis aligned (identity direction).
        sides: which joints to build ("left", "right"); a missing side is ``None`` in the truth.
        left, right: per-side parameter overrides (dicts, keys as in :func:`_draw_joint`).
        blur_mm: Gaussian blur (sigma, mm) of the CT; noise_hu: Gaussian noise (HU) of the CT.
        **overrides: parameter overrides applied to both sides (e.g. ``condyle_radius_mm=6``).

    Returns:
        :class:`Phantom` with int16 CT, uint8 labels (1-6 at voxel centres) and the exact truth.
    """
    if variant not in VARIANTS:
        raise ValueError("unknown analytic variant %r (expected sphere or ellipsoid)" % (variant,))
    spacing = np.asarray(spacing, float).reshape(3)
    rng = np.random.RandomState(seed)
    joints = {}
    for side in L.SIDES:
        params = _draw_joint(rng, variant, side)
        unknown = sorted(set(overrides).union((left if side == L.LEFT else right) or {})
                         - set(params))
        if unknown:   # a misspelt option was ignored: phantoms at the defaults, no word
            raise InputError("unknown analytic phantom option(s) %s; known: spacing, sides, "
                             "left, right, blur_mm, noise_hu, variant, %s"
                             % (", ".join(unknown), ", ".join(sorted(params))))
        params.update(overrides)
        params.update((left if side == L.LEFT else right) or {})
        joints[side] = params
    joints = {side: joints[side] for side in sides}
    if not joints:
        raise ValueError("at least one side is needed")

    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for params in joints.values():
        c = np.asarray(params["center_lps_mm"], float)
        rad = _outer_radius(params, variant) + AIR_MARGIN_MM
        lo = np.minimum(lo, c - rad)
        hi = np.maximum(hi, c + rad)
    origin = lo - rng.uniform(0.0, 1.0, 3) * spacing  # sub-voxel offset: no grid alignment
    size = np.ceil((hi - origin) / spacing).astype(int) + 1

    lab = np.zeros(size[::-1], np.uint8)  # numpy order z, y, x
    for side, params in joints.items():
        c = np.asarray(params["center_lps_mm"], float)
        rad = _outer_radius(params, variant) + 0.5
        i0 = np.maximum(np.floor((c - rad - origin) / spacing).astype(int), 0)
        i1 = np.minimum(np.ceil((c + rad - origin) / spacing).astype(int) + 1, size)
        axes = [origin[a] + spacing[a] * np.arange(i0[a], i1[a]) for a in range(3)]
        zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        pts = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
        cls = _joint_labels(pts, params, variant).reshape(zz.shape)
        values = np.array([0, L.CONDYLE[side], L.TEMPORAL_BONE[side], L.NEGATIVE_VOLUME[side]],
                          np.uint8)
        block = lab[i0[2]:i1[2], i0[1]:i1[1], i0[0]:i1[0]]
        block[cls > 0] = values[cls[cls > 0]]

    bone = np.isin(lab, [1, 2, 3, 4])
    ct = np.where(bone, BONE_HU, SOFT_TISSUE_HU)
    if blur_mm > 0:
        ct = ndimage.gaussian_filter(ct, sigma=(blur_mm / spacing)[::-1])
    if noise_hu > 0:
        ct = ct + rng.normal(0.0, noise_hu, ct.shape)
    ct = np.clip(np.round(ct), -32768, 32767).astype(np.int16)

    images = []
    for arr in (ct, lab):
        img = sitk.GetImageFromArray(arr)
        img.SetOrigin(tuple(float(v) for v in origin))
        img.SetSpacing(tuple(float(v) for v in spacing))
        images.append(img)

    truth = {"kind": "analytic", "seed": int(seed), "variant": variant,
             "parameters": {side: joints.get(side) for side in L.SIDES}}
    for side in L.SIDES:
        truth[side] = _joint_truth(joints[side], variant) if side in joints else None
    return Phantom(images[0], images[1], truth)
