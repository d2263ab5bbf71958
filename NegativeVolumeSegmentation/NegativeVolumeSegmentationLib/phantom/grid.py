"""The CT voxel grid of a phantom and the rigid head pose that places the head frame in it.

World = LPS mm of the image (identity direction). A head-frame point h (mm) lies at world
``R h + t`` (``R`` = pose rotation, ``t`` = world position of the head-frame origin).
Arrays follow SimpleITK's numpy order [z, y, x].
"""

import numpy as np
import SimpleITK as sitk


class Grid(object):
    """Image grid (origin, spacing, size in x, y, z order) plus the head pose (R, t)."""

    def __init__(self, origin, spacing, size, rotation, translation):
        self.origin = np.asarray(origin, float)
        self.spacing = np.asarray(spacing, float)
        self.size = [int(n) for n in size]
        self.R = np.asarray(rotation, float)
        self.t = np.asarray(translation, float)

    @property
    def shape(self):
        """numpy shape (nz, ny, nx)."""
        return tuple(self.size[::-1])

    def to_world(self, h):
        return np.asarray(h, float).dot(self.R.T) + self.t

    def index_box(self, lo, hi):
        """numpy slices (z, y, x) of the voxels whose centres may lie in the head-frame box."""
        corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                            for c in (lo[2], hi[2])], float)
        if not np.all(np.isfinite(corners)):
            return tuple(slice(0, n) for n in self.shape)
        w = self.to_world(corners)
        i0 = np.floor((w.min(0) - self.origin) / self.spacing).astype(int)
        i1 = np.ceil((w.max(0) - self.origin) / self.spacing).astype(int) + 1
        i0 = np.clip(i0, 0, self.size)
        i1 = np.clip(i1, 0, self.size)
        if np.any(i1 <= i0):
            return None
        return tuple(slice(i0[k], i1[k]) for k in (2, 1, 0))

    def head_coordinates(self, box):
        """Head-frame x, y, z (float32 arrays of the box's shape) of the voxel centres in ``box``.

        The arrays of the last large box are kept and returned again for the same box.
        """
        key = tuple((s.start, s.stop) for s in box)
        cache = getattr(self, "_coords", None)
        if cache is not None and cache[0] == key:
            return cache[1]
        out = self._head_coordinates(box)
        if out[0].size > 100000:
            self._coords = (key, out)
        return out

    def _head_coordinates(self, box):
        kz, jy, ix = [np.arange(s.start, s.stop, dtype=np.float64) for s in box]
        wx = self.origin[0] + ix * self.spacing[0] - self.t[0]
        wy = self.origin[1] + jy * self.spacing[1] - self.t[1]
        wz = self.origin[2] + kz * self.spacing[2] - self.t[2]
        out = []
        for k in range(3):  # h_k = sum_j R[j, k] * (w_j - t_j)
            out.append((self.R[0, k] * wx[None, None, :] + self.R[1, k] * wy[None, :, None]
                        + self.R[2, k] * wz[:, None, None]).astype(np.float32))
        return out

    def image(self, array):
        """SimpleITK image of ``array`` (numpy [z, y, x]) on this grid."""
        img = sitk.GetImageFromArray(array)
        img.SetOrigin([float(v) for v in self.origin])
        img.SetSpacing([float(v) for v in self.spacing])
        img.SetDirection([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
        return img

    def contains_world(self, points, margin=0.0):
        """True when every world point lies inside the imaged box (minus ``margin`` mm)."""
        lo = self.origin - 0.5 * self.spacing + margin
        hi = self.origin + (np.asarray(self.size) - 0.5) * self.spacing - margin
        p = np.asarray(points, float)
        return bool(np.all((p >= lo) & (p <= hi)))

    def misses_world(self, points, margin=0.0):
        """True when no world point lies inside the imaged box grown by ``margin`` mm."""
        lo = self.origin - 0.5 * self.spacing - margin
        hi = self.origin + (np.asarray(self.size) - 0.5) * self.spacing + margin
        p = np.asarray(points, float)
        return not bool(np.any(np.all((p >= lo) & (p <= hi), axis=1)))
