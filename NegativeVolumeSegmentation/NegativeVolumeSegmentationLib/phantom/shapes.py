"""Implicit primitives for the head phantom: approximate signed distances in millimetres.

Every shape maps points (three broadcastable arrays ``x, y, z`` in the *head frame*, mm; the head
frame is LPS-aligned before the head pose rotation: +x patient's left, +y posterior, +z superior)
to ``f``: negative inside, positive outside, and close to the Euclidean distance to the surface
near the surface (what partial-volume rendering and Newton projection need). Each shape carries an
axis-aligned bounding box in the head frame (``lo``, ``hi``, mm) that contains every point where
``f < MARGIN``; outside it a composite uses ``MARGIN`` (a lower bound of f there, so sign tests,
smooth blends narrower than MARGIN and conservative ray stepping stay exact), so that a primitive
is evaluated only inside its box.
"""

import numpy as np

MARGIN = 4.0  # mm: the box of a shape covers f < MARGIN
FAR = np.float32(MARGIN)  # value of f used outside a shape's box


def rotation(rx_deg=0.0, ry_deg=0.0, rz_deg=0.0):
    """3x3 rotation (float64): about x, then y, then z (degrees, right-handed, applied to vectors)."""
    ax, ay, az = np.radians([rx_deg, ry_deg, rz_deg])
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz.dot(my).dot(mx)


class Shape(object):
    """Base: ``f(x, y, z)`` and a head-frame bounding box ``lo``, ``hi`` (mm)."""

    lo = np.full(3, -np.inf)
    hi = np.full(3, np.inf)

    def f(self, x, y, z):
        raise NotImplementedError

    def __call__(self, points):
        """``f`` at an (N, 3) array of head-frame points (mm)."""
        p = np.asarray(points)
        return self.f(p[:, 0], p[:, 1], p[:, 2])


class Local(Shape):
    """A shape defined in its own frame: centre ``c`` and rotation ``rot`` (local -> head)."""

    def __init__(self, center, rot, half_extent):
        self.c = np.asarray(center, dtype=np.float64)
        self.rot = np.eye(3) if rot is None else np.asarray(rot, dtype=np.float64)
        self.axis_aligned = bool(np.allclose(self.rot, np.eye(3)))
        reach = np.abs(self.rot).dot(np.asarray(half_extent, dtype=np.float64) + MARGIN)
        self.lo, self.hi = self.c - reach, self.c + reach

    def local(self, x, y, z):
        """Local coordinates (float32 arrays, mm) of head-frame points."""
        dx, dy, dz = x - self.c[0], y - self.c[1], z - self.c[2]
        if self.axis_aligned:
            return dx, dy, dz
        r = self.rot.astype(np.float32)
        return (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
                r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
                r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz)


def ellipsoid_distance(u, v, w, a, b, c):
    """Approximate signed distance to the ellipsoid u²/a²+v²/b²+w²/c² = 1 (exact for spheres).

    k0 (k0 - 1) / k1 (first-order distance; k0 = |p/r|, k1 = |p/r²|), and inside at least the gap
    (1 - k0) min(r) between the ellipsoid and its copy scaled by k0 (which fixes the centre).
    """
    ua, vb, wc = u * (1.0 / a), v * (1.0 / b), w * (1.0 / c)
    k0 = np.sqrt(ua * ua + vb * vb + wc * wc)
    ua *= 1.0 / a
    vb *= 1.0 / b
    wc *= 1.0 / c
    k1 = np.sqrt(ua * ua + vb * vb + wc * wc)
    first_order = k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)
    return np.where(k0 < 1.0, np.minimum(first_order, (k0 - 1.0) * min(a, b, c)), first_order)


class Ellipsoid(Local):
    """Solid ellipsoid, semi-axes ``radii`` (mm) along the local axes."""

    def __init__(self, center, radii, rot=None):
        self.radii = [float(r) for r in radii]
        Local.__init__(self, center, rot, self.radii)

    def f(self, x, y, z):
        u, v, w = self.local(x, y, z)
        return ellipsoid_distance(u, v, w, *self.radii)


class EllipsoidShell(Local):
    """Shell between an ellipsoid and the same ellipsoid shrunk by ``thickness`` mm."""

    def __init__(self, center, radii, thickness, rot=None):
        self.radii = [float(r) for r in radii]
        self.inner = [r - float(thickness) for r in self.radii]
        Local.__init__(self, center, rot, self.radii)

    def f(self, x, y, z):
        u, v, w = self.local(x, y, z)
        return np.maximum(ellipsoid_distance(u, v, w, *self.radii),
                          -ellipsoid_distance(u, v, w, *self.inner))


class Capsule(Shape):
    """Segment ``a``-``b`` (head frame, mm) swept by a ball of ``radius`` mm."""

    def __init__(self, a, b, radius):
        self.a, self.b, self.r = np.asarray(a, float), np.asarray(b, float), float(radius)
        self.lo = np.minimum(self.a, self.b) - self.r - MARGIN
        self.hi = np.maximum(self.a, self.b) + self.r + MARGIN

    def f(self, x, y, z):
        d = (self.b - self.a).astype(np.float32)
        px, py, pz = x - self.a[0], y - self.a[1], z - self.a[2]
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / float(d.dot(d)), 0.0, 1.0)
        return np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2) - self.r


class RoundBox(Local):
    """Box of half sizes ``half`` (mm, local axes) with edges rounded by ``rounding`` mm."""

    def __init__(self, center, half, rounding, rot=None):
        self.half = np.asarray(half, float)
        self.round = float(rounding)
        Local.__init__(self, center, rot, self.half)

    def f(self, x, y, z):
        u, v, w = self.local(x, y, z)
        inner = self.half - self.round
        qu, qv, qw = np.abs(u) - inner[0], np.abs(v) - inner[1], np.abs(w) - inner[2]
        outside = np.sqrt(np.maximum(qu, 0) ** 2 + np.maximum(qv, 0) ** 2 + np.maximum(qw, 0) ** 2)
        inside = np.minimum(np.maximum(qu, np.maximum(qv, qw)), 0.0)
        return outside + inside - self.round


class HalfSpace(Shape):
    """Points p with (p - point)·normal < 0 (``normal`` points outward, unit)."""

    def __init__(self, point, normal):
        self.p = np.asarray(point, float)
        self.n = np.asarray(normal, float) / np.linalg.norm(normal)

    def f(self, x, y, z):
        n = self.n.astype(np.float32)
        return (x - self.p[0]) * n[0] + (y - self.p[1]) * n[1] + (z - self.p[2]) * n[2]


def _in_box(shape, x, y, z):
    return ((x >= shape.lo[0]) & (x <= shape.hi[0]) & (y >= shape.lo[1]) & (y <= shape.hi[1])
            & (z >= shape.lo[2]) & (z <= shape.hi[2]))


def evaluate_culled(shape, x, y, z):
    """``shape.f`` where the points lie in its box, ``FAR`` (= MARGIN) elsewhere (same shapes)."""
    out = np.full(np.shape(x), FAR, dtype=np.float32)
    if not np.all(np.isfinite(shape.lo)):
        return shape.f(x, y, z).astype(np.float32)
    inside = _in_box(shape, x, y, z)
    if inside.all():
        return shape.f(x, y, z).astype(np.float32)
    if inside.any():
        out[inside] = shape.f(x[inside], y[inside], z[inside])
    return out


def smooth_min(a, b, k):
    """Polynomial smooth minimum (blend width ``k`` mm); plain minimum for k <= 0."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


class Union(Shape):
    """Union of ``shapes`` (smoothly blended over ``blend`` mm)."""

    def __init__(self, shapes, blend=0.0):
        self.shapes = list(shapes)
        self.blend = float(blend)
        self.lo = np.min([s.lo for s in self.shapes], axis=0) - self.blend
        self.hi = np.max([s.hi for s in self.shapes], axis=0) + self.blend

    def f(self, x, y, z):
        x, y, z = np.broadcast_arrays(x, y, z)
        out = evaluate_culled(self.shapes[0], x, y, z)
        for s in self.shapes[1:]:
            out = smooth_min(out, evaluate_culled(s, x, y, z), self.blend)
        return out


class Intersection(Shape):
    """Points inside every one of ``shapes``; its box is the overlap of the finite boxes."""

    def __init__(self, shapes):
        self.shapes = list(shapes)
        self.lo = np.max([s.lo for s in self.shapes], axis=0)
        self.hi = np.min([s.hi for s in self.shapes], axis=0)

    def f(self, x, y, z):
        x, y, z = np.broadcast_arrays(x, y, z)
        out = evaluate_culled(self.shapes[0], x, y, z)
        for s in self.shapes[1:]:
            out = np.maximum(out, evaluate_culled(s, x, y, z))
        return out


class Difference(Shape):
    """``base`` minus every one of ``holes``."""

    def __init__(self, base, holes):
        self.base, self.holes = base, list(holes)
        self.lo, self.hi = base.lo, base.hi

    def f(self, x, y, z):
        x, y, z = np.broadcast_arrays(x, y, z)
        out = evaluate_culled(self.base, x, y, z)
        for h in self.holes:
            out = np.maximum(out, -evaluate_culled(h, x, y, z))
        return np.maximum(out, -FAR) if self.holes else out


class Offset(Shape):
    """``shape`` grown by ``distance`` mm (negative shrinks)."""

    def __init__(self, shape, distance):
        self.shape, self.d = shape, float(distance)
        self.lo, self.hi = shape.lo - max(self.d, 0.0), shape.hi + max(self.d, 0.0)

    def f(self, x, y, z):
        return self.shape.f(x, y, z) - self.d
