"""Every bad CT / label-map input gives InputError with one line naming the input, and the input
(file or folder) is byte-for-byte unchanged afterwards."""

import gzip
import hashlib
import os
import shutil

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import read_ct
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.segmentation_files import read_label_map
from dicom_writer import edit_dicom_file, write_dicom_series
from synthetic_ct import make_ct


def _ct_array(shape=(30, 30, 30)):
    array = np.full(shape, -1000.0, dtype=np.float32)
    array[tuple(slice(s // 4, s - s // 4) for s in shape)] = 1200.0
    return array


def _write(image, path):
    sitk.WriteImage(image, path)
    return path


def missing(tmp):
    return os.path.join(tmp, "nothing.nii.gz")


def unsupported_extension(tmp):
    path = os.path.join(tmp, "scan.png")
    sitk.WriteImage(sitk.Image(30, 30, sitk.sitkUInt8), path)
    return path


def text_file(tmp):
    path = os.path.join(tmp, "scan.txt")
    with open(path, "w") as handle:
        handle.write("patient 1\n")
    return path


def corrupt_nifti(tmp):
    path = os.path.join(tmp, "corrupt.nii.gz")
    with open(path, "wb") as handle:
        handle.write(np.random.default_rng(0).bytes(4000))
    return path


def gzip_of_garbage_nifti(tmp):
    path = os.path.join(tmp, "garbage.nii.gz")
    with gzip.open(path, "wb") as handle:
        handle.write(b"this is not a nifti header" * 40)
    return path


def _truncate(path, fraction=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(int(size * fraction))
    return path


def truncated_nifti(tmp):
    """ITK reads a truncated NIfTI as zeros without complaint: read_ct must notice.

    40³ float32 = 256000 data bytes after the 352-byte header; half the file keeps 127824."""
    return _truncate(_write(sitk.GetImageFromArray(_ct_array((40, 40, 40))),
                            os.path.join(tmp, "cut.nii")))


def truncated_nifti_gz(tmp):
    rng = np.random.default_rng(3)
    array = _ct_array((40, 40, 40)) + rng.integers(0, 50, size=(40, 40, 40)).astype(np.float32)
    return _truncate(_write(sitk.GetImageFromArray(array), os.path.join(tmp, "cut.nii.gz")))


def truncated_nrrd(tmp):
    return _truncate(_write(sitk.GetImageFromArray(_ct_array((40, 40, 40))),
                            os.path.join(tmp, "cut.nrrd")))


def corrupt_nrrd(tmp):
    path = os.path.join(tmp, "bad.nrrd")
    with open(path, "w") as handle:
        handle.write("NRRD0004\ntype: banana\ndimension: 3\n\n")
    return path


def mhd_without_data(tmp):
    path = _write(sitk.GetImageFromArray(_ct_array()), os.path.join(tmp, "lonely.mhd"))
    for name in os.listdir(tmp):
        if name.endswith("raw"):
            os.remove(os.path.join(tmp, name))
    return path


def empty_folder(tmp):
    path = os.path.join(tmp, "empty_case")
    os.mkdir(path)
    return path


def folder_without_dicom(tmp):
    path = os.path.join(tmp, "notes")
    os.mkdir(path)
    with open(os.path.join(path, "readme.txt"), "w") as handle:
        handle.write("no images here\n")
    return path


def image_2d(tmp):
    return _write(sitk.GetImageFromArray(_ct_array((30, 30))), os.path.join(tmp, "slice.nii.gz"))


def single_slice_3d(tmp):
    return _write(sitk.GetImageFromArray(_ct_array((1, 30, 30))), os.path.join(tmp, "one.nrrd"))


def image_4d(tmp):
    return _write(sitk.GetImageFromArray(_ct_array((3, 25, 25, 25)), isVector=False),
                  os.path.join(tmp, "series4d.nii.gz"))


def vector_image(tmp):
    array = np.stack([_ct_array()] * 3, axis=-1)
    return _write(sitk.GetImageFromArray(array, isVector=True), os.path.join(tmp, "rgb.mha"))


def nan_values(tmp):
    array = _ct_array()
    array[5, 6, 7] = np.nan
    return _write(sitk.GetImageFromArray(array), os.path.join(tmp, "nan.nrrd"))


def nan_values_nifti(tmp):
    """ITK's NIfTI reader turns NaN into 0 without a word: read_ct must notice."""
    array = _ct_array()
    array[1, 2, 3] = np.nan
    array[4, 5, 6] = np.nan
    array[7, 8, 9] = -np.inf
    return _write(sitk.GetImageFromArray(array), os.path.join(tmp, "nan.nii.gz"))


def infinite_values(tmp):
    array = _ct_array()
    array[5, 6, 7] = np.inf
    array[9, 9, 9] = -np.inf
    return _write(sitk.GetImageFromArray(array), os.path.join(tmp, "inf.mha"))


def too_small(tmp):
    return _write(sitk.GetImageFromArray(_ct_array((30, 30, 10))), os.path.join(tmp, "thin.nii"))


def sheared_direction(tmp):
    path = os.path.join(tmp, "sheared.nrrd")
    nrrd.write(path, np.transpose(_ct_array(), (2, 1, 0)),
               {"space": "left-posterior-superior", "space origin": np.zeros(3),
                "space directions": np.array([[0.5, 0.0, 0.0], [0.3, 0.5, 0.0], [0.0, 0.0, 0.5]])})
    return path


def segmentation_as_ct(tmp):
    path = os.path.join(tmp, "segmentation.seg.nrrd")
    nrrd.write(path, np.zeros((30, 30, 30), np.uint8))
    return path


def dicom_single_file(tmp):
    folder = write_dicom_series(make_ct(), os.path.join(tmp, "dicom1"), count=1)
    return folder


def _multiframe(tmp):
    """One GDCM-written multi-frame DICOM file of 20 frames (as an enhanced CT export is)."""
    folder = os.path.join(tmp, "multiframe")
    os.makedirs(folder)
    image = sitk.Cast(sitk.GetImageFromArray(np.full((20, 30, 30), 1000, np.uint16)),
                      sitk.sitkUInt16)
    image.SetSpacing((0.5, 0.5, 1.0))
    return _write(image, os.path.join(folder, "ct.dcm"))


def dicom_multiframe_folder(tmp):
    return os.path.dirname(_multiframe(tmp))


def dicom_multiframe_file(tmp):
    return _multiframe(tmp)


def dicom_slice_file(tmp):
    folder = write_dicom_series(make_ct(), os.path.join(tmp, "dicomslices"))
    return os.path.join(folder, sorted(os.listdir(folder))[3])


def dicom_duplicate_slice(tmp):
    """A second slice at one slice's position (another SOPInstanceUID: not a copy of the file,
    which is read once: test_dicom_series_mixed.py)."""
    folder = write_dicom_series(make_ct(), os.path.join(tmp, "dicomdup"))
    first = sorted(os.listdir(folder))[4]
    shutil.copy(os.path.join(folder, first), os.path.join(folder, "zz_copy.dcm"))
    edit_dicom_file(os.path.join(folder, "zz_copy.dcm"), [("0008|0018", b"1.2.826.0.1.99.4")])
    return folder


CT_CASES = [
    (missing, "no such file"),
    (unsupported_extension, "unsupported file type"),
    (text_file, "unsupported file type"),
    (corrupt_nifti, "cannot read it as a NIfTI image"),
    (gzip_of_garbage_nifti, "cannot read it as a NIfTI image"),
    (truncated_nifti, "NIfTI file is truncated (127824 of the 256000 bytes"),
    (truncated_nifti_gz, "NIfTI file is truncated"),
    (truncated_nrrd, "cannot read the voxel data"),
    (corrupt_nrrd, "cannot read it as a NRRD image"),
    (mhd_without_data, "missing data file"),
    (empty_folder, "folder is empty"),
    (folder_without_dicom, "no DICOM series"),
    (image_2d, "2D image"),
    (single_slice_3d, "single slice"),
    (image_4d, "4D image"),
    (vector_image, "3 components"),
    (nan_values, "1 NaN or infinite"),
    (infinite_values, "2 NaN or infinite"),
    (nan_values_nifti, "3 NaN or infinite"),
    (too_small, "too small"),
    (sheared_direction, "not orthonormal"),
    (segmentation_as_ct, "not a CT"),
    (dicom_single_file, "is a single slice; a 3D CT series is needed"),
    (dicom_multiframe_folder, "is one multi-frame file of 20 frames"),
    (dicom_multiframe_file, "this DICOM file is one multi-frame file of 20 frames"),
    (dicom_slice_file, "this DICOM file is a single slice; a 3D CT series is needed, give the "
                       "folder"),
    (dicom_duplicate_slice, "share one position"),
]


def fingerprint(path):
    """Hash of a file, or of every file name and content under a folder; None when absent."""
    if not os.path.exists(path):
        return None
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode())
                with open(full, "rb") as handle:
                    digest.update(handle.read())
    else:
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def assert_one_line_error(reader, path, expected):
    folder = os.path.dirname(path)
    listing = sorted(os.listdir(folder))
    before = fingerprint(path)
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(path + ":")
    assert expected in message, message
    assert fingerprint(path) == before
    assert sorted(os.listdir(folder)) == listing


@pytest.mark.parametrize("build,expected", CT_CASES, ids=[c[0].__name__ for c in CT_CASES])
def test_bad_ct_input(tmp_path, build, expected):
    path = build(str(tmp_path))
    assert_one_line_error(read_ct, path, expected)


def label_4d(tmp):
    return _write(sitk.GetImageFromArray(np.zeros((2, 20, 20, 20), np.uint8), isVector=False),
                  os.path.join(tmp, "labels4d.nii.gz"))


def label_values_out_of_range(tmp):
    array = np.zeros((20, 20, 20), np.int16)
    array[2, 2, 2] = -1
    array[3, 3, 3] = 7
    return _write(sitk.GetImageFromArray(array), os.path.join(tmp, "labels.nrrd"))


def corrupt_seg_nrrd(tmp):
    path = os.path.join(tmp, "broken.seg.nrrd")
    with open(path, "wb") as handle:
        handle.write(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 20 20 20\nencoding: gzip\n\nxx")
    return path


def label_nan(tmp):
    array = np.zeros((20, 20, 20), np.float32)
    array[4, 4, 4] = np.nan
    array[5, 5, 5] = 2.0
    return _write(sitk.GetImageFromArray(array), os.path.join(tmp, "labels_nan.nrrd"))


def label_sheared(tmp):
    path = os.path.join(tmp, "labels_sheared.nrrd")
    nrrd.write(path, np.ones((20, 20, 20), np.uint8),
               {"space": "left-posterior-superior", "space origin": np.zeros(3),
                "space directions": np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.2, 0.0, 0.5]])})
    return path


LABEL_CASES = [
    (missing, "no such file"),
    (text_file, "unsupported label map type"),
    (empty_folder, "is a folder"),
    (corrupt_nifti, "cannot read it as a NIfTI label map"),
    (corrupt_seg_nrrd, "cannot read it as a Slicer segmentation"),
    (label_4d, "4D"),
    (vector_image, "several components"),
    (label_values_out_of_range, "values -1, 7"),
    (label_nan, "values nan"),
    (nan_values_nifti, "3 NaN or infinite"),
    (label_sheared, "not orthonormal"),
    (truncated_nifti, "NIfTI file is truncated"),
]


@pytest.mark.parametrize("build,expected", LABEL_CASES, ids=[c[0].__name__ for c in LABEL_CASES])
def test_bad_label_map_input(tmp_path, build, expected):
    path = build(str(tmp_path))
    assert_one_line_error(read_label_map, path, expected)
