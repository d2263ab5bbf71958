"""Whether an image is a CT in Hounsfield units: MRI, raw stored values, normalised
intensities, no bone, coarse slices are warned of, not refused (io/ct.py check_ct_like,
read_ct).

Truth is the intensities written here: a head of air, soft tissue and bone in HU, and the same
shifted, scaled, without bone, or replaced by MRI-like values.
"""

import numpy as np
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import check_ct_like, read_ct


def _image_of(array, spacing=(0.5, 0.5, 0.5)):
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(spacing)
    return image


def test_check_ct_like_flags_non_hounsfield_intensities():
    rng = np.random.default_rng(1)
    head = np.full((30, 30, 30), -1000.0)
    head[5:25, 5:25, 5:25] = 40.0
    head[10:15, 10:15, 10:15] = 1500.0
    assert check_ct_like(_image_of(head)) == []
    mri = rng.uniform(0, 900, size=(30, 30, 30))
    warnings = check_ct_like(_image_of(mri), "mri.nii.gz")
    assert any("no air" in w and "MRI" in w for w in warnings)
    raw = head + 1024.0
    assert any("rescale intercept" in w for w in check_ct_like(_image_of(raw), "raw"))
    normalised = (head + 1000.0) / 2500.0
    assert any("normalised" in w for w in check_ct_like(_image_of(normalised), "n"))
    no_bone = np.where(head > 100, 60.0, head)
    assert any("no bone" in w for w in check_ct_like(_image_of(no_bone), "soft"))
    coarse = check_ct_like(_image_of(head, spacing=(0.5, 0.5, 5.0)), "thick")
    assert len(coarse) == 1 and "coarse" in coarse[0]


def test_mri_like_file_gives_warning_not_error(tmp_path):
    rng = np.random.default_rng(2)
    path = str(tmp_path / "t1.nrrd")
    sitk.WriteImage(_image_of(rng.uniform(0, 900, size=(25, 25, 25))), path)
    image, warnings = read_ct(path)
    assert image.GetSize() == (25, 25, 25)
    assert len(warnings) >= 1 and all(w.startswith(path) for w in warnings)
