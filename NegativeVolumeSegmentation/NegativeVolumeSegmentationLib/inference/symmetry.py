"""The head's mirror symmetry: the plane across which each point of the head has its partner on
the other side, found from the image alone.

A point's partner across the plane x = midline is right only for a head that lies straight in
the scanner; a head turned by 30 degrees puts the other joint ~50 mm from there. The head's own
mid-sagittal plane is the plane across which the head looks most like itself: on a coarse copy
(6 mm voxels, HU clamped to soft tissue and bone, linear interpolation) the correlation of the
head's voxels with their mirror images is searched over plane normals turned up to
MAX_TURN_DEG about the vertical axis and MAX_TILT_DEG out of the horizontal (5 degree steps,
the plane through the head's median point), then refined (normal and offset, Nelder-Mead).
Points and planes are LPS mm.
"""

import numpy as np
import SimpleITK as sitk

from .head_grid import anchored_grid, shrink_for, smooth_resample_physical

COARSE_MM = 6.0              # the search's voxels: the head's outline and its bones
CLAMP_HU = (-300.0, 1500.0)  # air and fat alike, soft tissue and bone kept
HEAD_HU = -400.0             # the head's voxels
MAX_TURN_DEG = 60.0          # plane normals searched: turned about LPS z ...
MAX_TILT_DEG = 30.0          # ... and tilted out of the axial plane
STEP_DEG = 5.0
# the tissue mirrored lies within this of the joints' level (LPS z) when that is known: a scan
# of the head, neck and trunk (600 mm) took 4.7 s, of a whole body (1500 mm) 26 s, a head 0.9 s
LEVEL_HALF_MM = 100.0
MIN_EXTENT_MM = 8 * COARSE_MM  # a field of view thinner than this on an axis holds no head
MIN_CORRELATION = 0.85       # below this the field of view holds no mirror-symmetric head
# (the real head of ../shared in 8 poses up to 45 degrees of turn: 0.92-0.96; docs/method.md,
# "A head turned in the scanner")


class Reflection(object):
    """Reflection across the plane n . p = d: S(p) = ``matrix`` p + ``offset`` (LPS mm);
    ``normal`` n (unit, pointing to the patient's left), ``distance`` d (mm), ``correlation``
    of the head with its mirror image across the plane (1 = perfectly symmetric)."""

    def __init__(self, normal, distance, correlation):
        self.normal = np.asarray(normal, float) / np.linalg.norm(normal)
        self.distance = float(distance)
        self.correlation = float(correlation)
        self.matrix = np.eye(3) - 2.0 * np.outer(self.normal, self.normal)
        self.offset = 2.0 * self.distance * self.normal

    def __call__(self, point):
        return self.matrix @ np.asarray(point, float) + self.offset


def _normal(turn_deg, tilt_deg):
    a, b = np.radians(turn_deg), np.radians(tilt_deg)
    return np.array([np.cos(b) * np.cos(a), np.cos(b) * np.sin(a), np.sin(b)])


class _Mirror(object):
    """Correlation of the coarse head's voxels with the image at their mirror images."""

    def __init__(self, coarse, level_z=None):
        from scipy import ndimage

        self._ndimage = ndimage
        hu = sitk.GetArrayFromImage(coarse).astype(np.float64)
        self.values = np.clip(hu, *CLAMP_HU)
        kji = np.argwhere(hu > HEAD_HU)
        self.origin = np.asarray(coarse.GetOrigin(), float)
        self.spacing = np.asarray(coarse.GetSpacing(), float)   # identity direction
        self.points = kji[:, ::-1] * self.spacing + self.origin  # LPS mm
        if level_z is not None:   # the head's part around the joints' level only
            near = np.abs(self.points[:, 2] - level_z) <= LEVEL_HALF_MM
            kji, self.points = kji[near], self.points[near]
        self.own = self.values[tuple(kji.T)]
        # the median point: tissue on one side only (a slab of slices blanked to water out to
        # the image's edge) moved the mean 7 mm, and the search, through it, missed the plane
        self.centre = np.median(self.points, axis=0) if len(kji) else None

    def correlation(self, normal, distance):
        reflected = self.points - 2.0 * ((self.points @ normal) - distance)[:, None] * normal
        index = ((reflected - self.origin) / self.spacing)[:, ::-1].T   # (z, y, x) rows
        mirror = self._ndimage.map_coordinates(self.values, index, order=1, mode="constant",
                                               cval=CLAMP_HU[0])
        a, b = self.own - self.own.mean(), mirror - mirror.mean()
        scale = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / scale) if scale > 0 else 0.0


def head_reflection(ct, level_z=None):
    """:class:`Reflection` across the head's mid-sagittal plane in ``ct`` (SimpleITK, HU), or
    None when the field of view holds no mirror-symmetric head (correlation below
    MIN_CORRELATION). ``level_z``: the LPS z (mm) of the joints, when known: only the tissue
    within LEVEL_HALF_MM of it is mirrored."""
    from scipy import optimize

    spacing = (COARSE_MM,) * 3
    extent = np.asarray(ct.GetSize()) * np.asarray(ct.GetSpacing())
    if np.any(extent < MIN_EXTENT_MM):   # a slab of slices: no head to mirror (and a coarse
        return None                       # copy too thin for its smoothing)
    coarse = smooth_resample_physical(shrink_for(ct, spacing), anchored_grid(ct, spacing))
    mirror = _Mirror(coarse, level_z)
    if len(mirror.points) < 100:
        return None
    best = (-np.inf, 0.0, 0.0)
    for turn in np.arange(-MAX_TURN_DEG, MAX_TURN_DEG + 1e-6, STEP_DEG):
        for tilt in np.arange(-MAX_TILT_DEG, MAX_TILT_DEG + 1e-6, STEP_DEG):
            n = _normal(turn, tilt)
            value = mirror.correlation(n, float(n @ mirror.centre))
            if value > best[0]:
                best = (value, turn, tilt)
    _, turn, tilt = best
    start = np.array([turn, tilt, float(_normal(turn, tilt) @ mirror.centre)])
    result = optimize.minimize(lambda v: -mirror.correlation(_normal(v[0], v[1]), v[2]), start,
                               method="Nelder-Mead",
                               options={"initial_simplex": [start, start + [STEP_DEG, 0, 0],
                                                            start + [0, STEP_DEG, 0],
                                                            start + [0, 0, COARSE_MM]],
                                        "xatol": 0.1, "fatol": 1e-5, "maxiter": 200})
    correlation = -float(result.fun)
    if not correlation >= MIN_CORRELATION:
        return None
    return Reflection(_normal(result.x[0], result.x[1]), result.x[2], correlation)
