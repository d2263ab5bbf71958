"""CT-like training images rendered from a label map of real anatomy, with randomised appearance.

In the spirit of domain-randomised training (SynthSeg: Billot et al., Medical Image Analysis 2023)
every sample draws its own rendering, so the network learns shapes rather than one scanner's look:
per-tissue intensities, cortical thickness, trabecular texture, blur (partial volume), slice
thickness, noise level and texture. The label map here is the real-anatomy map of
:mod:`.real_shapes` (skull, mandible, teeth, canal; everything else is soft tissue), resampled
nearest-neighbour onto the training patch grid before rendering, so rendering costs one patch.

Thick slices use TorchIO's ``RandomAnisotropy`` (a training-only dependency: nothing on the routes
Slicer runs imports this module). All lengths are mm, intensities Hounsfield units.
"""

import numpy as np
from scipy import ndimage

from .real_shapes import CANAL, LOWER_TEETH, MANDIBLE, SKULL, UPPER_TEETH

# ranges each sample draws from uniformly (HU unless named mm); chosen to span what head CT and
# CBCT scanners show around the TMJ (CBCT grey values are not calibrated HU and run low for bone)
SOFT_TISSUE_HU = (-30.0, 90.0)
SOFT_TEXTURE_HU = (0.0, 25.0)
CORTEX_MM = (0.5, 2.2)               # cortical shell thickness
CORTEX_HU = (700.0, 2000.0)
TRABECULAR_HU = (150.0, 700.0)
TRABECULAR_TEXTURE_HU = (30.0, 300.0)
TRABECULAR_GRAIN_MM = (0.3, 1.2)     # correlation length of the trabecular texture
TEETH_HU = (1400.0, 3000.0)
BLUR_MM = (0.2, 0.8)                 # Gaussian sigma of the scanner's point spread
THICK_SLICE_PROBABILITY = 0.4
THICK_SLICE_FACTOR = (1.5, 4.0)      # slice spacing / patch spacing along the patch's z
NOISE_HU = (5.0, 60.0)
NOISE_GRAIN_MM = (0.0, 0.6)          # 0: white noise; larger: the blotchy texture of low-dose CT


def _field(rng, shape, grain_voxels):
    """Zero-mean, unit-variance Gaussian random field (white noise smoothed by ``grain``)."""
    out = rng.standard_normal(shape).astype(np.float32)
    if np.max(grain_voxels) > 0.05:
        out = ndimage.gaussian_filter(out, grain_voxels)
        std = float(out.std())
        if std > 0:
            out /= std
    return out


def render(tissues, rng, spacing_zyx):
    """HU array (float32, z, y, x) rendered from ``tissues`` (values of the real-anatomy map,
    0 = soft tissue) on a grid of ``spacing_zyx`` mm, with randomly drawn appearance."""
    t = np.asarray(tissues)
    sp = np.asarray(spacing_zyx, float)
    u = rng.uniform
    hu = np.full(t.shape, u(*SOFT_TISSUE_HU), np.float32)
    hu += np.float32(u(*SOFT_TEXTURE_HU)) * _field(rng, t.shape, 1.0 / sp)
    bone = (t == SKULL) | (t == MANDIBLE)
    if bone.any():
        depth = ndimage.distance_transform_edt(bone, sampling=sp)
        cortex = bone & (depth <= u(*CORTEX_MM))
        trabecular = bone & ~cortex
        texture = _field(rng, t.shape, u(*TRABECULAR_GRAIN_MM) / sp)
        hu[trabecular] = u(*TRABECULAR_HU) + np.float32(u(*TRABECULAR_TEXTURE_HU)) * texture[trabecular]
        hu[cortex] = u(*CORTEX_HU) + np.float32(0.05 * u(*CORTEX_HU)) * texture[cortex]
    teeth = (t == UPPER_TEETH) | (t == LOWER_TEETH)
    hu[teeth] = u(*TEETH_HU)
    hu[t == CANAL] = u(*SOFT_TISSUE_HU)
    hu = ndimage.gaussian_filter(hu, u(*BLUR_MM) / sp)
    if u() < THICK_SLICE_PROBABILITY:
        hu = thick_slices(hu, rng, sp)
    noise = _field(rng, t.shape, u(*NOISE_GRAIN_MM) / sp)
    return (hu + np.float32(u(*NOISE_HU)) * noise).astype(np.float32)


def thick_slices(hu, rng, spacing_zyx):
    """``hu`` as if scanned with thicker slices along z: TorchIO's RandomAnisotropy (downsample
    along the axis by a random factor, then back to the patch grid), seeded from ``rng``."""
    import torch
    import torchio as tio

    affine = np.diag(list(np.asarray(spacing_zyx, float)) + [1.0])
    image = tio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(hu))[None], affine=affine)
    transform = tio.RandomAnisotropy(axes=(0,), downsampling=THICK_SLICE_FACTOR)
    with torch.random.fork_rng(devices=[]):  # CPU only: also in forked batch workers
        torch.manual_seed(int(rng.integers(2 ** 31)))
        out = transform(image)
    return out.data[0].numpy().astype(np.float32)
