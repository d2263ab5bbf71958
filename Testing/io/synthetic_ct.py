"""The synthetic CT the io tests read back (test_ct_file_formats.py, test_ct_dicom_read.py,
test_ct_unreadable_files.py, test_dicom_series_*.py, test_bad_input.py, test_gantry_tilt.py).

An int16 HU image of known geometry: anisotropic voxels, an oblique direction, an origin far from
zero and one bright marker voxel, so that a reader that loses any of them is seen in physical LPS
mm.
"""

import numpy as np
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

SIZE = (26, 24, 22)                      # i, j, k voxels
SPACING = (0.45, 0.6, 1.25)              # mm, anisotropic
ORIGIN = (-101.3, 55.2, -310.7)          # LPS mm
EULER_DEG = (15.0, -25.0, 40.0)          # oblique rotation
MARKER_IJK = (22, 12, 11)                # bright marker voxel


def oblique_direction():
    return Rotation.from_euler("xyz", EULER_DEG, degrees=True).as_matrix()


def make_ct(seed=0):
    """int16 HU image: air, soft tissue, a bone block, random texture and one bright marker."""
    rng = np.random.default_rng(seed)
    array = np.full(SIZE[::-1], -1000, dtype=np.int16)
    array[3:-3, 3:-3, 3:-3] = 40
    array[8:14, 8:16, 6:12] = 1200
    array += rng.integers(-20, 21, size=array.shape).astype(np.int16)
    i, j, k = MARKER_IJK
    array[k, j, i] = 3000
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(oblique_direction().ravel().tolist())
    return image


def assert_same_geometry(image, truth, mm_tol, dir_tol):
    assert image.GetSize() == truth.GetSize()
    np.testing.assert_allclose(image.GetOrigin(), truth.GetOrigin(), atol=mm_tol, rtol=0)
    np.testing.assert_allclose(image.GetSpacing(), truth.GetSpacing(), atol=mm_tol, rtol=0)
    np.testing.assert_allclose(image.GetDirection(), truth.GetDirection(), atol=dir_tol, rtol=0)


def marker_lps(image):
    """Physical LPS position (mm) of the brightest voxel."""
    array = sitk.GetArrayViewFromImage(image)
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    return np.asarray(image.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))
