"""Air is never joint space: a ray from the condyle that reaches air stops there, and no air voxel
is negative volume.

The joint space holds disc, synovium and fat (about -100 to +100 HU); air (about -1000 HU) near a
TMJ is the external ear canal behind the condyle and the mastoid cells. Without this rule, rays
from the back of the condyle cross the canal and "meet" its far wall, and the canal's air is
counted as joint space. Which voxels are air comes from the CT (HU) on the label map's grid; a
label map without its CT has no air information and is measured as it is.

Points are LPS mm; masks are (z, y, x) boolean arrays on the image's grid.
"""

import numpy as np

AIR_HU = -400.0          # fat is ~-100 HU, air ~-1000: a voxel below this is mostly air
STEP_FRACTION = 0.5      # rays are sampled every half of the smallest voxel edge


def air_mask(ct_array, air_hu=AIR_HU):
    """Boolean (z, y, x) mask of the air voxels of a CT array in HU."""
    return np.asarray(ct_array) < air_hu


def _index_of(image, points):
    """Nearest voxel (z, y, x) index arrays of LPS ``points`` (N, 3) on ``image``'s grid, and a
    mask of those inside the grid."""
    origin = np.asarray(image.GetOrigin(), float)
    spacing = np.asarray(image.GetSpacing(), float)
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    ijk = np.rint(((points - origin) @ direction) / spacing).astype(np.int64)
    size = np.asarray(image.GetSize())
    inside = np.all((ijk >= 0) & (ijk < size), axis=1)
    ijk = np.where(inside[:, None], ijk, 0)
    return (ijk[:, 2], ijk[:, 1], ijk[:, 0]), inside


def air_entry(image, air, starts, directions, lengths):
    """Where each ray first enters air before its length.

    Rays start at ``starts`` (N, 3, LPS mm) along unit ``directions`` and run to ``lengths``
    (N, mm). Returns an array of N distances (mm): the first sample inside an air voxel, ``inf``
    for a ray that meets no air.
    """
    entry = np.full(len(starts), np.inf)
    todo = np.nonzero(lengths > 0)[0]
    if len(todo) == 0 or not air.any():
        return entry
    step = STEP_FRACTION * float(min(image.GetSpacing()))
    t = np.arange(step, float(lengths[todo].max()) + step, step)
    for chunk in np.array_split(todo, max(1, len(todo) // 4096)):
        points = starts[chunk, None, :] + t[None, :, None] * directions[chunk, None, :]
        kji, inside = _index_of(image, points.reshape(-1, 3))
        in_air = (air[kji] & inside).reshape(len(chunk), len(t))
        in_air &= t[None, :] < lengths[chunk, None]
        first = np.argmax(in_air, axis=1)
        found = in_air[np.arange(len(chunk)), first]
        entry[chunk[found]] = t[first[found]]
    return entry
