"""Series that hold what is not theirs, and series that are not what they seem
(io/dicom_series.py, io/dicom_files.py; a review wrote such series from the real head, 2026-12-07).

Each case is the synthetic CT of synthetic_ct.py written with the tags a scanner or a PACS export
writes, so which images were read is told by their voxel values:

- a scout numbered first in the axial series (instance 1-2, files sorted first): the whole series
  was described by the scout, called a localizer and a thicker series of the folder measured;
- an axial localizer image of the axial series' size and orientation, filed in it: refused
  ("slice spacing varies from 1.25 to ... mm");
- a slice written twice into the folder ("IM0100 (1).dcm"): refused ("several DICOM slices share
  one position");
- targeted reconstructions of the two joints (one acquisition, two fields of view ~100 mm apart):
  called "2 reconstructions of its acquisition" and one kept for its sharper edges;
- an enhanced (multi-frame) CT beside a classic series: named "(1 file)".
"""

import os
import shutil

import numpy as np
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import read_ct

from dicom_study import BONE, ROOT, SCOUT, SOFT
from dicom_study import tags as _tags
from dicom_study import values as _values
from dicom_writer import write_dicom_series
from synthetic_ct import make_ct

LOCALIZER = "ORIGINAL\\PRIMARY\\LOCALIZER"


def _thick(ct):
    """``ct`` every second slice (2.5 mm): a thicker reconstruction of the same range."""
    return ct[:, :, ::2]


def test_a_scout_numbered_first_in_the_axial_series_leaves_it_the_ct_measured(tmp_path):
    folder = str(tmp_path / "study")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, tags=_tags(2, "TMJ 1.25"))
    write_dicom_series(_thick(ct), folder, SOFT, tags=_tags(3, "TMJ 2.5"))
    scout = sitk.Image([26, 22, 2], sitk.sitkInt16)
    scout.SetDirection([0, 0, 1, 1, 0, 0, 0, 1, 0])          # sagittal images
    scout.SetOrigin(ct.GetOrigin())
    write_dicom_series(scout, str(tmp_path / "scout"), SCOUT,
                       tags=[("0020|000e", BONE)] + _tags(2, "Topogram", image_type=LOCALIZER))
    for path in sorted((tmp_path / "scout").iterdir()):     # "IM0000", "IM0001": listed first
        os.rename(str(path), os.path.join(folder, "00_" + path.name))
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert "measured series 2 'TMJ 1.25' (22 slices); other CT series not measured: series 3 " \
        "'TMJ 2.5' (11 slices)" in warnings[0], warnings
    assert "DICOM series 2 holds slices of 2 orientations, sizes or image types" in warnings[1] \
        and "measured 22 of its 24 files" in warnings[1], warnings


def test_an_axial_localizer_filed_in_the_axial_series_is_read_apart(tmp_path):
    folder = str(tmp_path / "series")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, tags=_tags(2, "TMJ"))
    above = sitk.Image(ct.GetSize()[:2] + (1,), sitk.sitkInt16) - 1000
    above.SetDirection(ct.GetDirection())
    above.SetSpacing(ct.GetSpacing())
    above.SetOrigin(ct.TransformIndexToPhysicalPoint((0, 0, ct.GetDepth() + 20)))
    write_dicom_series(above, str(tmp_path / "loc"), SCOUT,
                       tags=[("0020|000e", BONE)] + _tags(2, "TMJ", image_type=LOCALIZER))
    for path in (tmp_path / "loc").iterdir():
        os.rename(str(path), os.path.join(folder, "zz_" + path.name))
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert len(warnings) == 1 and "measured 22 of its 23 files" in warnings[0], warnings


def test_a_slice_written_twice_into_the_folder_is_read_once(tmp_path):
    folder = str(tmp_path / "series")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, tags=_tags(2, "TMJ"))
    first = sorted(os.listdir(folder))[10]
    shutil.copyfile(os.path.join(folder, first), os.path.join(folder, first[:-4] + " (1).dcm"))
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert warnings == ["%s: DICOM series 2 holds 1 duplicate file (copies of one "
                        "SOPInstanceUID), left out" % folder], warnings


def test_targeted_reconstructions_of_the_two_joints_are_not_kernels_of_one(tmp_path):
    """Same AcquisitionTime, frame of reference and slices, fields of view 100 mm apart across
    the slices: the first by series number is measured (not "the sharpest of 2
    reconstructions"), the other named as another field of view. The same two series with one
    field of view stay reconstructions of one acquisition (the sharper, series 4, measured)."""
    ct = make_ct()
    sharp = sitk.Cast(ct * 2, sitk.sitkInt16)                # steeper edges
    same = [("0008|0032", "101010"), ("0020|0052", ROOT + "9")]
    direction = np.asarray(ct.GetDirection()).reshape(3, 3)
    for apart_mm, measured in ((100.0, ct), (0.0, sharp)):
        folder = str(tmp_path / ("apart_%d" % apart_mm))
        write_dicom_series(ct, folder, BONE, tags=_tags(3, "TMJ RIGHT") + same)
        other = sitk.Image(sharp)
        other.SetOrigin(tuple(np.add(ct.GetOrigin(), direction[:, 0] * apart_mm)))
        write_dicom_series(other, folder, SOFT, tags=_tags(4, "TMJ LEFT") + same)
        image, warnings = read_ct(folder)
        np.testing.assert_array_equal(_values(image), _values(measured))
        if apart_mm:
            assert "measured series 3 'TMJ RIGHT' (22 slices); other CT series not measured: " \
                "series 4 'TMJ LEFT' (22 slices) of another field of view" in warnings[0], \
                warnings
        else:
            assert "measured series 4 'TMJ LEFT' (22 slices), the sharpest of 2 " \
                "reconstructions of its acquisition" in warnings[0], warnings


def test_an_enhanced_ct_beside_a_classic_series_is_named_by_its_frames(tmp_path):
    folder = str(tmp_path / "study")
    ct = make_ct()
    write_dicom_series(ct, folder, BONE, tags=_tags(3, "TMJ 1.25"))
    volume = sitk.Cast(ct, sitk.sitkInt16)
    for tag, value in [("0008|0060", "CT"), ("0020|000e", SOFT)] + _tags(2, "TMJ enhanced"):
        volume.SetMetaData(tag, value)
    sitk.WriteImage(volume, os.path.join(folder, "enhanced.dcm"))
    image, warnings = read_ct(folder)
    np.testing.assert_array_equal(_values(image), _values(ct))
    assert "skipped: series 2 'TMJ enhanced' (one multi-frame file of 22 frames, not read " \
        "here: convert it to a classic series or NIfTI to measure it)" in warnings[0], warnings
