"""Metal and its streaks, put into a real head CT: the probes ``metal_*`` of
benchmarks/real_ct_probes.py.

A joint operated on carries metal: a titanium plate and screws on a fractured condylar neck, a
total joint prosthesis; almost every adult's molars carry fillings or crowns. On a CT the metal
saturates the scale (3071 HU on a 12-bit one) and the projections through it are wrong, so the
filtered back projection paints streaks across the axial slice that holds it. Here, per axial
slice (the CT stored in LPS order, slices along z), a parallel-beam model of those wrong
projections:

- the metal's path length p(theta, s) (mm) along each ray, by the Radon transform of the slice's
  metal mask (each metal pixel splatted onto the detector);
- the projection error e = -BEAM_HARDENING * p^2 (a polychromatic beam hardens in metal: the
  longest paths read too little, dark streaks between metal parts) plus photon starvation,
  Gaussian noise of sigma STARVATION * (exp(MU_METAL * p / 2) - 1) per ray (few photons behind
  the metal, bright and dark streaks radiating from it);
- the streak image, the error's filtered back projection (ramp filter), added to the slice in
  HU; the metal voxels then set to METAL_VALUE.

This is a model of the artefact's appearance (streaks of several hundred HU near the metal,
fading with distance, in the metal's own slices only), not a scanner simulation; its two
strengths are set so that a titanium plate's streaks look like a clinical scan's (docs/results.md
shows the slices). numpy + SimpleITK.
"""

import numpy as np
import SimpleITK as sitk

METAL_VALUE = 3071.0        # the top of a 12-bit HU scale, where metal saturates
BEAM_HARDENING = 200.0      # HU per mm of metal path, per mm: e = -B * p^2 (HU mm)
STARVATION = 2000.0         # HU mm: sigma of the photon-starvation noise per ray
MU_METAL = 0.25             # 1/mm: attenuation of the metal (titanium ~0.14, steel ~0.35)
ANGLES = 180                # projections over 180 degrees


def _offsets(shape, angle):
    """Each pixel's signed distance (pixels) from the slice's centre along the detector of the
    projection at ``angle`` (degrees)."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    t = np.radians(angle)
    return (x - (nx - 1) / 2.0) * np.cos(t) + (y - (ny - 1) / 2.0) * np.sin(t)


def _radon(mask, angles, half):
    """(angles, 2 * half + 1) line sums (pixels) of a 2-D array along parallel rays, each
    pixel splatted linearly onto the detector bins -half..half."""
    rows = []
    keep = np.flatnonzero(mask)
    for angle in angles:
        s = _offsets(mask.shape, angle).ravel()[keep] + half
        low = np.floor(s).astype(int)
        w = s - low
        row = np.bincount(low, (1.0 - w) * mask.ravel()[keep], 2 * half + 2)
        row += np.bincount(low + 1, w * mask.ravel()[keep], 2 * half + 2)
        rows.append(row[:2 * half + 1])
    return np.array(rows)


def _back_project(sinogram, angles, shape, half):
    """Filtered back projection (ramp filter) of a sinogram of :func:`_radon` onto ``shape``."""
    n = sinogram.shape[1]
    pad = int(2 ** np.ceil(np.log2(2 * n)))
    ramp = np.abs(np.fft.fftfreq(pad))
    filtered = np.real(np.fft.ifft(np.fft.fft(sinogram, pad, axis=1) * ramp, axis=1))[:, :n]
    bins = np.arange(-half, half + 1, dtype=float)
    image = np.zeros(shape)
    for row, angle in zip(filtered, angles):
        image += np.interp(_offsets(shape, angle), bins, row)
    return image * np.pi / len(angles)


def streak_image(metal, pixel_mm, rng):
    """Streaks (HU) that ``metal`` (2-D boolean, square pixels of ``pixel_mm``) adds to its
    slice."""
    half = int(np.ceil(np.hypot(*metal.shape) / 2.0)) + 1
    angles = np.linspace(0.0, 180.0, ANGLES, endpoint=False)
    path = _radon(metal.astype(np.float64), angles, half) * pixel_mm   # mm of metal per ray
    error = -BEAM_HARDENING * path ** 2
    error += STARVATION * (np.exp(MU_METAL * path / 2.0) - 1.0) * rng.standard_normal(path.shape)
    return _back_project(error / pixel_mm, angles, metal.shape, half)   # HU


def add_metal(image, metal_mask, seed=0):
    """A copy of ``image`` (HU, slices along LPS z, square pixels) with the voxels of
    ``metal_mask`` (a numpy (z, y, x) boolean array on its grid) made metal and the streaks of
    each axial slice that holds metal added; values clipped to the image's type."""
    if not np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3)):
        raise ValueError("metal needs a scan stored in LPS order")
    spacing = image.GetSpacing()
    if abs(spacing[0] - spacing[1]) > 1e-6:
        raise ValueError("metal needs square pixels")
    rng = np.random.default_rng(seed)
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    for k in np.flatnonzero(metal_mask.any(axis=(1, 2))):
        array[k] += streak_image(metal_mask[k].astype(np.float64), spacing[0], rng)
    array[metal_mask] = METAL_VALUE
    info = np.iinfo(sitk.GetArrayViewFromImage(image).dtype) if np.issubdtype(
        sitk.GetArrayViewFromImage(image).dtype, np.integer) else None
    if info is not None:
        array = np.clip(np.round(array), max(info.min, -1024), min(info.max, METAL_VALUE))
    out = sitk.GetImageFromArray(array.astype(sitk.GetArrayViewFromImage(image).dtype))
    out.CopyInformation(image)
    return out


def mask_of(image, inside):
    """(z, y, x) boolean array of the voxels of ``image`` whose centres (LPS mm, arrays x, y, z
    of the voxel centres) satisfy ``inside(x, y, z)``."""
    size = image.GetSize()
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij", sparse=True)
    o, s = np.asarray(image.GetOrigin()), np.asarray(image.GetSpacing())
    return inside(o[0] + s[0] * i, o[1] + s[1] * j, o[2] + s[2] * k)


# ------------------------------------------------ metal placed on the real head (LPS mm)

BONE_HU = 300.0
PLATE_MM = (1.0, 5.0)          # a miniplate: thickness, width (along y)
SCREW_RADIUS_MM, SCREW_MM = 1.0, 7.0


def lateral_bone_x(array, image, centre, z, lateral, y_halfwidth=3.0, reach=15.0):
    """LPS x (mm) of the most lateral bone voxel (> BONE_HU) of the axial slice nearest ``z``
    within ``y_halfwidth`` of the condyle centre's y and ``reach`` of its x (``lateral`` +1 for
    the left joint, -1 for the right); None where no bone."""
    o, s = np.asarray(image.GetOrigin()), np.asarray(image.GetSpacing())
    k = int(round((z - o[2]) / s[2]))
    j0, j1 = [int(round((centre[1] + d - o[1]) / s[1])) for d in (-y_halfwidth, y_halfwidth)]
    i0, i1 = sorted(int(round((centre[0] + d - o[0]) / s[0])) for d in (-lateral * 5.0,
                                                                        lateral * reach))
    bone = np.flatnonzero((array[k, j0:j1 + 1, i0:i1 + 1] > BONE_HU).any(axis=0))
    if bone.size == 0:
        return None
    return o[0] + s[0] * (i0 + (bone.max() if lateral > 0 else bone.min()))


def neck_plate(image, centre, lateral, top_below, length):
    """A miniplate on the lateral surface of a condylar neck, from ``top_below`` to ``top_below +
    length`` mm below the condyle ``centre`` (LPS mm), with a screw into the bone 3 mm from
    each end: the mask (z, y, x) of its voxels."""
    array = sitk.GetArrayViewFromImage(image)
    zs = np.arange(centre[2] - top_below - length, centre[2] - top_below + 1e-6, 1.0)
    surface = np.array([lateral_bone_x(array, image, centre, z, lateral) for z in zs], float)
    surface = np.interp(zs, zs[np.isfinite(surface)], surface[np.isfinite(surface)])
    thick, width = PLATE_MM
    screws = (zs[0] + 3.0, zs[-1] - 3.0)

    def inside(x, y, z):
        face = np.interp(z, zs, surface)           # the bone's lateral face at height z
        out = lateral * (x - face)                  # mm outward from the face
        plate = ((out >= 0) & (out <= thick) & (np.abs(y - centre[1]) <= width / 2.0)
                 & (z >= zs[0]) & (z <= zs[-1]))
        for zc in screws:
            plate = plate | ((np.hypot(y - centre[1], z - zc) <= SCREW_RADIUS_MM)
                             & (out <= thick) & (out >= thick - SCREW_MM))
        return plate
    return mask_of(image, inside)


def condylar_prosthesis(image, centre, top_z):
    """A total joint prosthesis's condylar component where the condyle was: the natural
    condyle (bone above 200 HU within an ellipsoid of 24 x 14 x 16 mm (ML, AP, SI) below
    ``top_z``, its top) resected to soft tissue (40 HU), a metal head of 20 x 10 x 10 mm whose
    top is at ``top_z`` on the condyle ``centre``'s x, y, on a stem 6 mm wide reaching 30 mm
    down. Returns (the image with the condyle resected, the metal mask (z, y, x))."""
    head = np.array([centre[0], centre[1], top_z - 5.0])

    def resected(x, y, z):
        return ((((x - head[0]) / 12.0) ** 2 + ((y - head[1]) / 7.0) ** 2
                 + ((z - head[2]) / 8.0) ** 2 <= 1.0) & (z <= top_z))

    def inside(x, y, z):
        ball = ((x - head[0]) / 10.0) ** 2 + ((y - head[1]) / 5.0) ** 2 + ((z - head[2]) / 5.0) ** 2
        stem = (np.hypot(x - head[0], y - head[1]) <= 3.0) & (z <= head[2]) & (z >= top_z - 30.0)
        return (ball <= 1.0) | stem
    array = sitk.GetArrayFromImage(image)
    array[mask_of(image, resected) & (array > 200)] = 40
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    return out, mask_of(image, inside)


def fossa_lining(image, centre, top_z, thick=1.5):
    """A metal-backed fossa component: the bone (> BONE_HU) of the fossa roof over the condyle
    (within 10 x 7 mm (ML, AP) of its centre's x, y and 0-10 mm above its top ``top_z``) whose
    voxel ``thick`` mm lower is not bone, i.e. the roof's lower face: the mask (z, y, x)."""
    array = sitk.GetArrayViewFromImage(image)
    bone = array > BONE_HU
    drop = int(round(thick / image.GetSpacing()[2]))
    below = np.zeros_like(bone)
    below[drop:] = bone[:-drop]             # below[k] = bone at k - drop (lower, +z up)

    def region(x, y, z):
        return ((((x - centre[0]) / 10.0) ** 2 + ((y - centre[1]) / 7.0) ** 2 <= 1.0)
                & (z >= top_z) & (z <= top_z + 10.0))
    return mask_of(image, region) & bone & ~below


def molar_fillings(image, centres, below=41.0, forward=67.0, apart=22.0):
    """Two amalgam fillings (ellipsoids 6 x 8 x 4 mm) on the molars, ``below`` mm under the
    condyles' mean centre, ``forward`` mm in front of it and ``apart`` mm either side of the
    midline: the mask (z, y, x)."""
    mid = np.mean(centres, axis=0)
    spots = [mid + (dx, -forward, -below) for dx in (-apart, apart)]

    def inside(x, y, z):
        hit = np.zeros(np.broadcast(x, y, z).shape, bool)
        for c in spots:
            hit |= ((x - c[0]) / 3.0) ** 2 + ((y - c[1]) / 4.0) ** 2 + ((z - c[2]) / 2.0) ** 2 <= 1
        return hit
    return mask_of(image, inside)
