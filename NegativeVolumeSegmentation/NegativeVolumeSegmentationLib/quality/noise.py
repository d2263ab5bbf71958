"""Image noise around a joint: a check of the quality gate (:mod:`.quality`, docs/method.md
"Quality gate"), per side, on the CT (HU).

A low-dose protocol, or thin slices with a sharp kernel on a large head, gives a grainy image in
which the thin fossa roof (its cortex under 1 mm) and the joint space's soft tissue differ by
less than the grain: the networks then close or open the roof by chance. The real head of
../shared with Poisson noise made in its sinogram over the joints' slices (a parallel-beam scan,
180 views, 10000 / 5000 / 4000 / 3000 / 2000 photons per ray; a review's probes, 2026-12-08)
read noise 101 / 142-144 / 158 / 183-185 / 221-226 HU here and NV -0.1 .. +0.1 / -0.7 .. +1.6 /
-6.0 .. -5.6 / -5.0 .. -1.6 / -8.7 .. +13.2 %; with Gaussian noise correlated over 0.6 pixel
(benchmarks/real_ct_probes.py ``noise_<hu>``) 81 HU -0.7 / +1.2 %, 148 HU -2.3 / +1.7 %. The
untouched head reads 19 HU, the head phantoms 8-60 HU (their noise drawn from 5-60 HU); the
networks were trained on 5-60 HU with up to 50 HU more added.

The noise is read in the soft tissue around the condyle (within NOISE_REACH_MM of its centre,
where a 2 mm Gaussian mean lies within SOFT_HU of the most frequent such mean near 0 HU, the
soft tissue's level, and NOISE_ERODE_MM from anything else) as 1.4826 x the median absolute deviation of the voxels from that mean (a standard
deviation robust to the tissue's own edges), on voxels of SCALE_MM (finer ones averaged to it),
padding (flat patches of one value, :func:`flat_patches`) left out. Streaks (a few lines per
slice) hardly move a median and are not read. Noise in HU; lengths in mm; numpy, scipy and
SimpleITK only.
"""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..hounsfield import flat_patches

NOISE_REACH_MM = 25.0     # soft tissue read within this of the condyle's centre (a box)
SOFT_HU = 150.0           # about the soft tissue's peak: fat (-100) to muscle (+50), with room
                          # for the mean's blur
PEAK_RANGE_HU = 300.0     # the peak sought within +-this (the gate's soft-tissue peak: +-250)
PEAK_BIN_HU = 20.0
SMOOTH_MM = 2.0           # the mean the voxels are compared with (Gaussian std)
NOISE_ERODE_MM = 2.0      # soft tissue this far from bone and air (the mean's edge blur)
MIN_SOFT_VOXELS = 500     # fewer soft-tissue voxels: no estimate
NOISE_CAUTION_HU = 100.0  # the real head (module docstring): 80-101 HU NV within 1.2 %
NOISE_MAX_HU = 150.0      # ... 142-148 HU within 2.3 %; sinogram noise of 158 HU -6.0 / -5.6 %,
                          # 183-226 HU up to -8.7 / +13.2 % (Gaussian 196-245 HU within 3.4 %)
NOISE_UNCERTAINTY_PERCENT = 3   # what the caution says (up to 2.3 % measured under the limit)
MAD_TO_SD = 1.4826        # a normal distribution's standard deviation / median absolute deviation
SCALE_MM = 1.0            # the noise read on voxels of this edge: finer voxels are averaged to it
                          # (the limits were measured on a 1 mm grid; a 0.5 mm scan's voxels hold
                          # ~2.8 x the noise of the same scan on 1 mm, and see the roof as well)
def soft_tissue_noise_hu(ct, centre):
    """Noise (HU) of ``ct`` in the soft tissue within NOISE_REACH_MM of ``centre`` (LPS mm), or
    None when too little soft tissue lies there (or no CT)."""
    if ct is None or centre is None:
        return None
    spacing = np.asarray(ct.GetSpacing(), float)
    centre = np.asarray(centre, float)
    corners = [ct.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in centre + d))
               for d in np.array(np.meshgrid(*[(-NOISE_REACH_MM, NOISE_REACH_MM)] * 3))
               .reshape(3, -1).T]
    corners = np.asarray(corners)
    lo = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, np.asarray(ct.GetSize()))
    if np.any(hi - lo < 3):
        return None
    array = np.array(sitk.GetArrayViewFromImage(ct)[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]],
                     dtype=np.float32)
    flat = flat_patches(array)
    factors = np.maximum(np.round(SCALE_MM / spacing[::-1]).astype(int), 1)
    if np.any(factors > 1):   # the noise of SCALE_MM voxels: block means, read on their grid
        every = tuple(slice(f // 2, None, f) for f in factors)
        array = ndimage.uniform_filter(array, factors)[every]
        flat = ndimage.maximum_filter(flat, factors)[every]
        spacing = spacing * factors[::-1]
    steps = np.maximum(np.round(NOISE_ERODE_MM / spacing[::-1]).astype(int), 1)
    padding = ndimage.binary_dilation(flat, np.ones(2 * steps + 1, bool))
    mean = ndimage.gaussian_filter(array, SMOOTH_MM / spacing[::-1])
    near = mean[(mean > -PEAK_RANGE_HU) & (mean < PEAK_RANGE_HU) & ~padding]
    if near.size < MIN_SOFT_VOXELS:
        return None
    counts, edges = np.histogram(near, bins=int(2 * PEAK_RANGE_HU / PEAK_BIN_HU),
                                 range=(-PEAK_RANGE_HU, PEAK_RANGE_HU))
    peak = float(edges[np.argmax(counts)] + 0.5 * PEAK_BIN_HU)   # the soft tissue's own level
    soft = (mean > peak - SOFT_HU) & (mean < peak + SOFT_HU)
    soft = ndimage.binary_erosion(soft, np.ones(2 * steps + 1, bool)) & ~padding
    if np.count_nonzero(soft) < MIN_SOFT_VOXELS:
        return None
    residual = array[soft] - mean[soft]
    return float(MAD_TO_SD * np.median(np.abs(residual - np.median(residual))))


def check_noise(ct, centre):
    """(reasons, cautions) for the noise around the condyle at ``centre`` (LPS mm)."""
    noise = soft_tissue_noise_hu(ct, centre)
    if noise is None or noise <= NOISE_CAUTION_HU:
        return [], []
    seen = "image noise %.0f HU in the soft tissue around the joint" % noise
    if noise > NOISE_MAX_HU:
        return ["%s (limit %.0f HU): the thin fossa roof is lost in it (a low-dose scan, or thin "
                "slices with a sharp kernel: reconstruct thicker or softer)"
                % (seen, NOISE_MAX_HU)], []
    return [], ["%s (over %.0f HU): negative volume uncertain by up to ~%d %%"
                % (seen, NOISE_CAUTION_HU, NOISE_UNCERTAINTY_PERCENT)]
