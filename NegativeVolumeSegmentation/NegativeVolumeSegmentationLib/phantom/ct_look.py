"""CT appearance of the head phantom: tissues painted in Hounsfield units with partial volume,
then scanner blur, correlated noise and optional streaks.

Painting is the painter's algorithm on a float32 HU array on the CT grid: each tissue region's
occupancy per voxel is ``clip(0.5 - f / w, 0, 1)`` (f: the region's approximate signed distance at
the voxel centre in mm, w: the voxel's mean size in mm), which anti-aliases its edges, and the
voxel moves that fraction of the way to the tissue's HU. Bone is painted twice: cortical HU on the
whole bone, cancellous HU where the bone is deeper than its cortical thickness.
"""

import numpy as np
from scipy import ndimage

from .rasterize import field


class Canvas(object):
    """HU image being painted on ``grid`` (see :class:`.grid.Grid`)."""

    def __init__(self, grid, background_hu=-1000.0):
        self.grid = grid
        self.hu = np.full(grid.shape, background_hu, np.float32)
        self.width = float(np.prod(grid.spacing) ** (1.0 / 3.0))
        self.marrow = np.zeros(grid.shape, np.float32)  # cancellous fraction still visible

    def field(self, shape):
        """(box, f): the shape's f on the voxels of its bounding box; None when outside the image."""
        box = self.grid.index_box(shape.lo, shape.hi)
        if box is None:
            return None, None
        return box, field(shape, self.grid, box)

    def paint_field(self, box, f, hu, inset=0.0):
        """Move voxels toward ``hu`` by the occupancy of {f < -inset}."""
        if box is None:
            return
        occ = np.clip(0.5 - (f + np.float32(inset)) / np.float32(self.width), 0.0, 1.0)
        view = self.hu[box]
        view += occ * (np.float32(hu) - view)
        self.marrow[box] *= 1.0 - occ  # whatever is painted over hides the marrow below
        return occ

    def paint(self, shape, hu):
        box, f = self.field(shape)
        self.paint_field(box, f, hu)

    def paint_bone(self, shape, cortical_hu, cancellous_hu, cortex_mm):
        """Cortical shell of ``cortex_mm`` around cancellous bone; returns (box, f) for reuse."""
        box, f = self.field(shape)
        self.paint_field(box, f, cortical_hu)
        occ = self.paint_field(box, f, cancellous_hu, inset=cortex_mm)
        if occ is not None:
            self.marrow[box] += occ
        return box, f

    def add_marrow_texture(self, texture):
        """Add ``texture`` (HU, image-shaped) where cancellous bone shows."""
        self.hu += texture * self.marrow


def trabecular_texture(rng, shape, spacing, amplitude_hu, grain_mm=0.8):
    """Zero-mean band-limited texture (HU) that mimics trabecular mottling; std = amplitude_hu.

    White noise smoothed by a Gaussian of ``grain_mm`` std (mm, per axis from ``spacing`` x, y,
    z), rescaled to the wanted standard deviation.
    """
    sigma = [grain_mm / s for s in spacing[::-1]]
    t = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return t * np.float32(amplitude_hu / max(float(t.std()), 1e-6))


def _kernel_energy(sigma):
    """Sum of squared weights of scipy's normalised 1-D Gaussian kernel of ``sigma`` voxels."""
    if sigma <= 0:
        return 1.0
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w /= w.sum()
    return float((w * w).sum())


def blur_and_noise(rng, hu, spacing, blur_mm, noise_std_hu):
    """Scanner blur (Gaussian PSF of ``blur_mm`` std) applied to the image plus white noise.

    The noise is added before the blur so that it comes out spatially correlated like CT noise;
    it is pre-scaled so that its standard deviation after the blur is ``noise_std_hu``.
    """
    sigma = [blur_mm / s for s in spacing[::-1]]  # numpy order z, y, x
    gain = np.sqrt(np.prod([_kernel_energy(s) for s in sigma]))
    noisy = hu + rng.standard_normal(hu.shape).astype(np.float32) * np.float32(noise_std_hu / gain)
    return ndimage.gaussian_filter(noisy, sigma, mode="nearest")


def add_streaks(rng, hu, spacing, centres_xy_mm, amplitude_hu, count=6):
    """Beam-hardening-like streaks in every axial slice: lines through dense-bone centres.

    ``centres_xy_mm``: (N, 2) in-plane positions (mm from the array corner) the streaks pass
    through; each streak is a dark/bright band of ~2-3 mm width whose amplitude decays along it.
    """
    nz, ny, nx = hu.shape
    yy = (np.arange(ny, dtype=np.float32) * spacing[1])[:, None]
    xx = (np.arange(nx, dtype=np.float32) * spacing[0])[None, :]
    pattern = np.zeros((ny, nx), np.float32)
    for _ in range(count):
        cx, cy = centres_xy_mm[rng.integers(len(centres_xy_mm))]
        angle = rng.uniform(0, np.pi)
        dist = (xx - cx) * np.sin(angle) - (yy - cy) * np.cos(angle)
        along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        band = np.exp(-0.5 * (dist / 1.2) ** 2) * np.exp(-np.abs(along) / 60.0)
        pattern += np.float32(rng.choice([-1.0, 1.0]) * amplitude_hu) * band
    return hu + pattern[None, :, :]
