"""A DICOM study written with known content, shared by the series-choice and folder-layout tests
(test_dicom_series_choice.py, test_dicom_series_layouts.py, test_quiet_libraries.py).

Each series is the synthetic CT of synthetic_ct.py (or a different image), so which one was read
is told by its voxel values, and the header tags (Modality, ImageType, SeriesNumber,
SeriesDescription, ConvolutionKernel) are the ones a scanner writes for a scout, axial
reconstructions, a reformat, another modality.
"""

import numpy as np
import SimpleITK as sitk

from dicom_writer import write_dicom_series
from synthetic_ct import make_ct, marker_lps

ROOT = "1.2.826.0.1.3680043.2.1125.9."
# file names and UIDs sort in the opposite order of the ranking: the choice must not follow them
BONE = ROOT + "8"          # series 2, the one to measure
SOFT = ROOT + "1"          # series 3: same slices, soft kernel (the values differ by +7 HU)
SCOUT = ROOT + "0"         # series 1: a localizer of two images
REFORMAT = ROOT + "2"      # series 4: DERIVED, more slices
MRI = ROOT + "3"           # series 5: another modality, the most slices


def tags(number, description, kernel=None, image_type="ORIGINAL\\PRIMARY\\AXIAL", modality="CT"):
    found = [("0020|0011", str(number)), ("0008|103e", description), ("0008|0008", image_type),
             ("0008|0060", modality)]
    return found + ([("0018|1210", kernel)] if kernel else [])


def values(image):
    return sitk.GetArrayViewFromImage(image).astype(np.float32)


def write_study(folder):
    """(bone CT, soft CT): a study folder of five series (module docstring)."""
    bone = make_ct()
    soft = sitk.Cast(bone + 7, sitk.sitkInt16)
    write_dicom_series(bone, folder, BONE, tags=tags(2, "TMJ 0.6 bone", "H70h"))
    write_dicom_series(soft, folder, SOFT, tags=tags(3, "TMJ 0.6 soft", "H30s"))
    write_dicom_series(bone, folder, SCOUT, count=2,
                       tags=tags(1, "Topogram", image_type="ORIGINAL\\PRIMARY\\LOCALIZER"))
    tall = sitk.Tile([bone, bone], [1, 1, 2])     # a reformat / MR series of more slices
    tall.SetSpacing(bone.GetSpacing())
    tall.SetDirection(bone.GetDirection())
    tall.SetOrigin(bone.GetOrigin())
    write_dicom_series(tall, folder, REFORMAT,
                       tags=tags(4, "MPR sag", image_type="DERIVED\\SECONDARY\\MPR"))
    write_dicom_series(sitk.Cast(tall + 100, sitk.sitkInt16), folder, MRI,
                       tags=tags(5, "T1", modality="MR"))
    return bone, soft


def soft_kernel(image, sigma_mm=0.8):
    """``image`` as a softer kernel reconstructs the same acquisition (int16)."""
    return sitk.Cast(sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32),
                                                     sigma_mm), sitk.sitkInt16)


def assert_same_scan(image, truth):
    """The image read is ``truth``: voxels, grid and the marker's LPS position (DICOM keeps
    positions to ~1e-4 mm)."""
    np.testing.assert_array_equal(values(image), values(truth))
    np.testing.assert_allclose(image.GetSpacing(), truth.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(image.GetOrigin(), truth.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(marker_lps(image), marker_lps(truth), atol=1e-4)
