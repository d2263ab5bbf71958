"""Negative-volume truth from exact implicit geometry (docs/method.md step 3; bounded or confined).

Independent of the project's NV engine (no meshes): the condyle (MC) and temporal bone (TB) are
implicit functions ``f(points) -> mm`` (negative inside; points (N, 3), any rigid frame in mm).

1. MC surface samples: points of a fine grid near the zero level set, projected onto it by Newton
   steps along the gradient (central differences); unit normals from the gradient.
2. h(x): the ray x + t·n(x), 0 < t <= max_distance, is marched against TB in small steps and the
   first crossing refined by bisection; no crossing -> h = 0 (confined mode). Air (optional
   implicit function, e.g. the ear canal): a ray that enters air before the TB leaves the joint
   there, h = 0, as the engine's air rule decides on the CT (docs/method.md, "Air is never
   joint space").
3. A point p is NV when it lies outside MC, TB and air and, with x the nearest surface sample,
   0 < (p - x)·n(x) <= h(x).
4. Bounded (mode "bounded", :meth:`JointSpaceTruth.bound`): the joint region of
   :mod:`..engine.joint_bounds` is found from points on the exact MC and TB surfaces and the
   exact rays' ends (no meshes, no voxels); rays from MC points that do not face the joint count
   0 (so an NV point whose nearest sample does not face it is not NV) and NV points must lie
   between the condylar poles.
"""

import numpy as np
from scipy.spatial import cKDTree

from .. import labels as L
from ..options import DEFAULTS

MAX_DISTANCE_MM = DEFAULTS["max_distance_mm"]   # the NV's default reach (options.py), mm


def _grid(lo, hi, step):
    axes = [np.arange(l + 0.5 * step, h, step) for l, h in zip(lo, hi)]
    g = np.meshgrid(*axes, indexing="ij")
    return np.stack([a.ravel() for a in g], axis=1), [len(a) for a in axes]


def gradient(fn, p, eps=1e-3):
    """Central-difference gradient of ``fn`` at points p (N, 3), float64."""
    g = np.empty_like(p)
    for i in range(3):
        d = np.zeros(3)
        d[i] = eps
        g[:, i] = (np.asarray(fn(p + d), np.float64) - np.asarray(fn(p - d), np.float64)) / (2 * eps)
    return g


def _near_surface(fn, lo, hi, step, coarse=4):
    """Grid points (spacing ``step``) within ~one step of the zero level set: coarse to fine."""
    big = step * coarse
    p, _ = _grid(lo, hi, big)
    f = np.asarray(fn(p), np.float64)
    cells = p[np.abs(f) < 1.5 * big]
    offsets = (np.arange(coarse) - (coarse - 1) / 2.0) * step
    o = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3)
    q = (cells[:, None, :] + o[None, :, :]).reshape(-1, 3)
    f = np.asarray(fn(q), np.float64)
    return q[np.abs(f) < step]


def surface_samples(fn, lo, hi, step=0.2, iterations=4):
    """Points on the zero level set of ``fn`` inside the box [lo, hi] (mm) and unit outward normals.

    Grid points within one cell of the surface are projected by Newton steps
    p <- p - f ∇f / |∇f|²; returns (points (N, 3), normals (N, 3)), float64.
    """
    p, n = onto_surface(fn, _near_surface(fn, np.asarray(lo, float), np.asarray(hi, float), step),
                        iterations)
    keep = np.abs(np.asarray(fn(p), np.float64)) < 1e-3
    return p[keep], n[keep]


def onto_surface(fn, p, iterations=4):
    """(points, unit outward normals): points ``p`` (N, 3) moved onto the zero level set of
    ``fn`` by Newton steps p <- p - f ∇f / |∇f|², and ∇f / |∇f| there; float64."""
    for _ in range(iterations):
        f = np.asarray(fn(p), np.float64)
        g = gradient(fn, p)
        p = p - (f / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
    g = gradient(fn, p)
    return p, g / np.maximum(np.linalg.norm(g, axis=1), 1e-12)[:, None]


def stopped_by_air(air_fn, points, normals, h, max_distance=MAX_DISTANCE_MM):
    """Boolean per ray x + t n with first TB entry h (> 0 where it met the TB): True where it
    meets the air of ``air_fn`` (f < 0) before the TB. Such a ray leaves the joint: it counts 0."""
    blocked = np.zeros(len(h), bool)
    hit = np.nonzero(h > 0)[0]
    to_air = ray_lengths(air_fn, points[hit], normals[hit], max_distance)
    blocked[hit[(to_air > 0) & (to_air < h[hit])]] = True
    return blocked


def ray_lengths(tb_fn, points, normals, max_distance=MAX_DISTANCE_MM, min_step=0.05,
                bisections=14):
    """h (mm) per ray x + t n: first entry into TB (f < 0) for 0 < t <= max_distance, else 0.

    Conservative sphere tracing: each step is half the TB's approximate distance (at least
    ``min_step``), so no TB wall thicker than ``min_step`` is stepped over; the first crossing
    is refined by bisection.
    """
    n_rays = len(points)
    h = np.zeros(n_rays)
    t = np.zeros(n_rays)
    active = np.arange(n_rays)
    f_now = np.asarray(tb_fn(points), np.float64)
    while len(active):
        x, n = points[active], normals[active]
        t_new = np.minimum(t[active] + np.maximum(0.5 * f_now[active], min_step), max_distance)
        f_new = np.asarray(tb_fn(x + t_new[:, None] * n), np.float64)
        hit = f_new < 0
        if hit.any():
            idx = active[hit]
            a, b = t[idx], t_new[hit]
            for _ in range(bisections):
                m = 0.5 * (a + b)
                inside = np.asarray(tb_fn(points[idx] + m[:, None] * normals[idx]),
                                    np.float64) < 0
                b = np.where(inside, m, b)
                a = np.where(inside, a, m)
            h[idx] = 0.5 * (a + b)
        t[active] = t_new
        f_now[active] = f_new
        done = hit | (t_new >= max_distance)
        active = active[~done]
    return h


class JointSpaceTruth(object):
    """Per-joint NV classifier built from MC / TB implicit functions (same frame, mm)."""

    def __init__(self, mc_fn, tb_fn, mc_lo, mc_hi, max_distance=MAX_DISTANCE_MM,
                 surface_step=0.2, air_fn=None):
        self.mc_fn, self.tb_fn, self.air_fn = mc_fn, tb_fn, air_fn
        self.points, self.normals = surface_samples(mc_fn, np.asarray(mc_lo, float),
                                                    np.asarray(mc_hi, float), surface_step)
        self.surface_step = surface_step
        self.h = ray_lengths(tb_fn, self.points, self.normals, max_distance)
        self.air_blocked = np.zeros(len(self.h), bool)
        if air_fn is not None:  # a ray into air before the TB leaves the joint: it counts 0
            self.air_blocked = stopped_by_air(air_fn, self.points, self.normals, self.h,
                                              max_distance)
            self.h[self.air_blocked] = 0.0
        self.tree = cKDTree(self.points)
        self.bounds = None
        self._set_box()

    def bound(self, frame, step=0.4):
        """Restrict to the bounded joint region; ``frame``: (m, p, s) rows in this frame's axes.

        The TB surface is sampled (points projected exactly onto it, ``step`` mm apart) over the
        region where a rim can lie: from the rim search's floor to 6 mm above the condyle top (a
        closed mouth's crest lies below the top; read along the axis of a head pitched by 20
        degrees, up to ~4 mm above it)."""
        from ..engine import joint_bounds as B
        frame = np.asarray(frame, float)
        c = self.points @ frame.T
        top = c[:, 2].max()
        head = c[c[:, 2] >= top - L.CONDYLAR_HEAD_MM]
        p_mid = head[:, 1].mean()
        corners = np.array([[m, p, s] for m in (head[:, 0].min(), head[:, 0].max())
                            for p in (p_mid - B.EMINENCE_REACH_MM - 4,
                                      p_mid + B.POSTGLENOID_REACH_MM + 4)
                            for s in (top - B.RIM_SEARCH_DEPTH_MM - 1, top + 6.0)]) @ frame
        bone, _ = surface_samples(self.tb_fn, corners.min(0), corners.max(0), step)
        hit = self.h > 0
        ends = self.points[hit] + self.h[hit, None] * self.normals[hit]
        self.bounds = B.JointBounds(frame, self.points, bone, ends)
        pairs = self.tree.query_pairs(2.5 * self.surface_step, output_type="ndarray")
        self.h = np.where(self.bounds.facing_cap(self.points, self.normals, pairs), self.h, 0.0)
        self._set_box()
        return self.bounds

    def _set_box(self):
        self._mask = None
        hit = self.h > 0
        if hit.any():
            ends = np.concatenate([self.points[hit], self.points[hit]
                                   + self.h[hit, None] * self.normals[hit]])
            self.lo, self.hi = ends.min(0) - 0.5, ends.max(0) + 0.5
        else:
            self.lo = self.hi = None

    def _swept_cells(self, cell):
        """Boolean mask of ``cell``-mm cells (over the NV box) touched by the hit rays' segments,
        grown by one cell: every NV point lies on or next to such a segment."""
        hit = self.h > 0
        x, n, h = self.points[hit], self.normals[hit], self.h[hit]
        shape = np.ceil((self.hi - self.lo) / cell).astype(int) + 1
        mask = np.zeros(shape, bool)
        for t in np.arange(0.0, h.max() + cell, 0.5 * cell):
            q = x + np.minimum(t, h)[:, None] * n
            idx = np.floor((q - self.lo) / cell).astype(int)
            mask[tuple(np.clip(idx, 0, shape - 1).T)] = True
        from scipy import ndimage
        return ndimage.binary_dilation(mask, np.ones((3, 3, 3), bool))

    def contains(self, p, cell=0.5):
        """Boolean NV membership of points p (N, 3)."""
        p = np.asarray(p, np.float64)
        out = np.zeros(len(p), bool)
        if self.lo is None or len(p) == 0:
            return out
        if self._mask is None:
            self._mask = self._swept_cells(cell)
            self._cell = cell
        inside_box = np.all((p >= self.lo) & (p <= self.hi), axis=1)
        cand = np.nonzero(inside_box)[0]
        idx = np.floor((p[cand] - self.lo) / self._cell).astype(int)
        idx = np.minimum(idx, np.array(self._mask.shape) - 1)
        cand = cand[self._mask[tuple(idx.T)]]
        if len(cand) == 0:
            return out
        q = p[cand]
        if self.bounds is not None:
            keep = self.bounds.contains(q)
            cand, q = cand[keep], q[keep]
        keep = np.asarray(self.mc_fn(q), np.float64) > 0
        cand, q = cand[keep], q[keep]
        keep = np.asarray(self.tb_fn(q), np.float64) > 0
        cand, q = cand[keep], q[keep]
        if self.air_fn is not None:  # air is never joint space
            keep = np.asarray(self.air_fn(q), np.float64) > 0
            cand, q = cand[keep], q[keep]
        _, j = self.tree.query(q)
        d = ((q - self.points[j]) * self.normals[j]).sum(1)
        out[cand[(d > 0) & (d <= self.h[j])]] = True
        return out

    def volume(self, step=0.2, chunk=2000000):
        """NV volume (mm³) on a fine grid of spacing ``step`` mm over the NV's box."""
        if self.lo is None:
            return 0.0
        total = 0
        p, _ = _grid(self.lo, self.hi, step)
        for s in range(0, len(p), chunk):
            total += int(self.contains(p[s:s + chunk]).sum())
        return total * step ** 3

    def ray_hits(self):
        """Number of surface samples whose ray met the TB."""
        return int((self.h > 0).sum())


def region_volume_and_centroid(fn, lo, hi, step=0.15, coarse=4):
    """Volume (mm³) and centroid (mm) of {f < 0} in the box [lo, hi], to a grid of ``step`` mm.

    Coarse cells (``coarse`` steps wide) lying deeper than 1.5 cell widths inside count whole;
    cells near the surface are subdivided into ``step`` voxels.
    """
    big = step * coarse
    c, _ = _grid(np.asarray(lo, float), np.asarray(hi, float), big)
    f = np.asarray(fn(c), np.float64)
    deep = f < -1.5 * big
    near = np.abs(f) < 1.5 * big
    offsets = (np.arange(coarse) - (coarse - 1) / 2.0) * step
    o = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3)
    q = (c[near][:, None, :] + o[None, :, :]).reshape(-1, 3)
    q = q[np.asarray(fn(q)) < 0]
    n_deep = int(deep.sum()) * coarse ** 3
    count = n_deep + len(q)
    if count == 0:
        return 0.0, None
    centroid = (c[deep].sum(0) * coarse ** 3 + q.sum(0)) / count
    return float(count * step ** 3), centroid
