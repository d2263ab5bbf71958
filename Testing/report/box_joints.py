"""Box-shaped joints on a 0.5 mm grid for the quality gate's tests: a condyle box under a
temporal-bone plate, whose volumes and contact areas are exact voxel counts of known boxes."""

import numpy as np
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L

SPACING = 0.5


def _grid(size_mm=(60.0, 40.0, 40.0), centre=(0.0, 0.0, -5.0)):
    """(labels array z, y, x; x, y, z voxel-centre coordinates mm; reference image). The default
    grid reaches 10 mm below a box condyle's lower plane (z = -15) and 15 mm above its top (0)."""
    size = [int(round(s / SPACING)) for s in size_mm]
    origin = [c - s / 2.0 + SPACING / 2.0 for c, s in zip(centre, size_mm)]
    ref = sitk.Image(size, sitk.sitkUInt8)
    ref.SetSpacing([SPACING] * 3)
    ref.SetOrigin(origin)
    k, j, i = np.indices(size[::-1])
    return (np.zeros(size[::-1], np.uint8), origin[0] + SPACING * i, origin[1] + SPACING * j,
            origin[2] + SPACING * k, ref)


def _box(x, y, z, lo, hi):
    return ((x >= lo[0]) & (x < hi[0]) & (y >= lo[1]) & (y < hi[1]) & (z >= lo[2])
            & (z < hi[2]))


def _joint(array, x, y, z, side=L.LEFT, cx=0.0, gap=2.0, plate_dx=0.0):
    """Condyle box 16 x 8 x 15 mm (1920 mm3) with its top at z = 0; TB plate 24 x 16 x 2 mm
    ``gap`` above it (0: touching over the whole 16 x 8 = 128 mm2 top), shifted by plate_dx."""
    array[_box(x, y, z, (cx - 8, -4, -15), (cx + 8, 4, 0))] = L.CONDYLE[side]
    array[_box(x, y, z, (cx + plate_dx - 12, -8, gap), (cx + plate_dx + 12, 8, gap + 2))] = \
        L.TEMPORAL_BONE[side]


def _labels(array, ref):
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(ref)
    return image


def grid_at(spacing, size_mm=(60.0, 40.0, 44.0), offset=0.0):
    """Empty uint8 image of ``spacing`` mm voxels over ``size_mm`` (x, y centred on 0, z from
    -26 mm), its voxel centres moved by ``offset`` mm along each axis (a CT's own grid)."""
    size = [int(round(s / spacing)) for s in size_mm]
    image = sitk.Image(size, sitk.sitkUInt8)
    image.SetSpacing([spacing] * 3)
    image.SetOrigin([-s / 2.0 + spacing / 2.0 + offset for s in size_mm[:2]]
                    + [-26.0 + spacing / 2.0 + offset])
    return image


def coordinates(image):
    """(x, y, z) LPS mm of ``image``'s voxel centres, as sparse (z, y, x) arrays (axes LPS's)."""
    size = image.GetSize()
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij", sparse=True)
    o, s = image.GetOrigin(), image.GetSpacing()
    return o[0] + s[0] * i, o[1] + s[1] * j, o[2] + s[2] * k
