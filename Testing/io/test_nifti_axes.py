"""NIfTI headers whose geometry readers read differently are refused (io/nifti_data.py).

ITK reads pixdim where the sform gives another voxel size (the NIfTI standard and nibabel read
the sform: a label map at 0.5 mm with pixdim 1 mm read 8 x its condyle volume), and the qform
where a stale qform and the sform disagree (the sides reversed). The headers here are written by
SimpleITK and then edited byte by byte at the NIfTI-1 offsets."""

import struct

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.ct import read_ct
from NegativeVolumeSegmentationLib.io.segmentation_files import read_label_map

PIXDIM, QUATERN, SFORM_CODE = 76, 256, 254   # NIfTI-1 header offsets (little endian here)


def _written(path, spacing=(0.5, 0.5, 0.5), direction=None, labels=False):
    array = np.full((24, 24, 24), 0 if labels else -1000, np.uint8 if labels else np.int16)
    array[8:16, 8:16, 8:16] = 1 if labels else 1200
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection([float(v) for v in np.ravel(direction)])
    sitk.WriteImage(image, str(path))
    data = bytearray(path.read_bytes())
    assert struct.unpack_from("<i", data, 0)[0] == 348 and struct.unpack_from("<h", data,
                                                                              SFORM_CODE)[0] > 0
    return image, data


@pytest.mark.parametrize("reader", [read_ct, read_label_map])
def test_an_sform_that_disagrees_with_pixdim_is_refused(tmp_path, reader):
    path = tmp_path / "pixdim.nii"
    _, data = _written(path, labels=reader is read_label_map)
    struct.pack_into("<3f", data, PIXDIM + 4, 1.0, 1.0, 1.0)   # pixdim 1 mm, sform 0.5 mm
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"sform's voxel size \(0.5 x 0.5 x 0.5 mm\) disagrees "
                                         r"with its pixdim \(1 x 1 x 1 mm\)") as caught:
        reader(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("reader", [read_ct, read_label_map])
def test_a_stale_qform_that_mirrors_the_sform_is_refused(tmp_path, reader):
    path = tmp_path / "stale.nii"
    _, data = _written(path, labels=reader is read_label_map)
    assert struct.unpack_from("<3f", data, QUATERN) == (0.0, 0.0, 1.0)   # LPS axes, in RAS
    struct.pack_into("<3f", data, QUATERN, 0.0, 0.0, 0.0)   # the qform turned 180 deg about z
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="qform and sform place the voxels differently"):
        reader(str(path))


def test_headers_that_agree_are_read_with_their_axes(tmp_path):
    """SimpleITK writes qform and sform alike: turned, mirrored and anisotropic grids read back
    as written (the check must not refuse them)."""
    rng = np.random.default_rng(3)
    for n in range(8):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))   # a random rotation or reflection
        spacing = tuple(float(v) for v in rng.uniform(0.25, 3.0, 3))
        path = tmp_path / ("ok%d.nii" % n)
        image, _ = _written(path, spacing, q)
        back, _ = read_ct(str(path))
        np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-4)
        np.testing.assert_allclose(back.GetSpacing(), spacing, rtol=1e-5)
