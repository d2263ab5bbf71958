"""Gantry tilt and uneven slices: DICOM series of an analytic ball written here with known geometry.

A real tilted gantry: the slice plane is tilted by THETA about the patient's left-right axis
(ImageOrientationPatient row (1, 0, 0), column (0, cos, -sin)) while the table moves the slices
along the patient axis (ImagePositionPatient steps (0, 0, dz)), so each step has a component
dz·sin(THETA) in the slice plane. Each pixel holds the ball's partial volume (4x4x4 sub-samples of
the voxel, slice thickness = spacing along the normal) as HU = -1000 + 2000·fraction.
Truth: the ball's centre (LPS mm) and volume 4/3·pi·R^3, independent of the reader.
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.io.ct import read_ct
from test_bad_input import assert_one_line_error

PIXEL_MM = 0.8
ROWS, COLUMNS = 40, 40
SLICES = 32
TABLE_STEP_MM = 1.0
RADIUS_MM = 6.0
FIRST_POSITION = np.array([-16.0, -16.0, -40.0])     # LPS mm of slice 0, pixel (0, 0)
SUB = 4                                                # sub-samples per voxel axis


def tilted_axes(theta_deg):
    """(row, column, normal) of a slice plane tilted by theta about the left-right (x) axis."""
    t = np.radians(theta_deg)
    row = np.array([1.0, 0.0, 0.0])
    column = np.array([0.0, np.cos(t), -np.sin(t)])
    return row, column, np.cross(row, column)


def ball_centre(theta_deg):
    """Ball centre: in the middle of slice 16, off the voxel grid, inside every sheared slice."""
    row, column, _ = tilted_axes(theta_deg)
    return (FIRST_POSITION + np.array([0.0, 0.0, 16 * TABLE_STEP_MM + 0.37])
            + (16 + 0.31) * PIXEL_MM * row + (20 + 0.23) * PIXEL_MM * column)


def ball_slices(theta_deg, table_positions):
    """int16 HU slices of the ball, one per table position (mm along z from FIRST_POSITION)."""
    row, column, normal = tilted_axes(theta_deg)
    thickness = TABLE_STEP_MM * np.cos(np.radians(theta_deg))
    centre = ball_centre(theta_deg)
    sub = (np.arange(SUB) + 0.5) / SUB - 0.5
    j, i = np.meshgrid(np.arange(ROWS), np.arange(COLUMNS), indexing="ij")
    slices = []
    for z in table_positions:
        origin = FIRST_POSITION + np.array([0.0, 0.0, z])
        inside = np.zeros((ROWS, COLUMNS))
        for a in sub:
            for b in sub:
                for c in sub:
                    point = (origin[:, None, None]
                             + ((i + a) * PIXEL_MM)[None] * row[:, None, None]
                             + ((j + b) * PIXEL_MM)[None] * column[:, None, None]
                             + (c * thickness) * normal[:, None, None])
                    inside += np.sum((point - centre[:, None, None]) ** 2, axis=0) <= RADIUS_MM ** 2
        slices.append(np.round(-1000.0 + 2000.0 * inside / SUB ** 3).astype(np.int16))
    return slices


def write_slices(folder, slices, theta_deg, table_positions, uid="1.2.826.0.1.3680043.2.1125.9.1"):
    """Write slices as a CT DICOM series with the given table positions (ImagePositionPatient)."""
    os.makedirs(folder, exist_ok=True)
    row, column, _ = tilted_axes(theta_deg)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k, (plane, z) in enumerate(zip(slices, table_positions)):
        piece = sitk.GetImageFromArray(plane)
        piece.SetSpacing((PIXEL_MM, PIXEL_MM))       # GDCM writes PixelSpacing from the image
        position = FIRST_POSITION + np.array([0.0, 0.0, z])
        tags = [("0008|0016", "1.2.840.10008.5.1.4.1.1.2"), ("0008|0060", "CT"),
                ("0010|0010", "Phantom^Tilt"), ("0020|000d", uid + ".0"), ("0020|000e", uid),
                ("0008|0018", "%s.%d" % (uid, k + 1)), ("0020|0013", str(k + 1)),
                ("0020|0032", "\\".join("%.6f" % v for v in position)),
                ("0020|0037", "\\".join("%.8f" % v for v in tuple(row) + tuple(column))),
                ("0028|0030", "%.6f\\%.6f" % (PIXEL_MM, PIXEL_MM)),
                ("0018|0050", "%.6f" % TABLE_STEP_MM), ("0018|1120", "%.1f" % theta_deg),
                ("0028|1052", "0"), ("0028|1053", "1")]
        for tag, value in tags:
            piece.SetMetaData(tag, value)
        writer.SetFileName(os.path.join(folder, "slice_%03d.dcm" % k))
        writer.Execute(piece)
    return folder


def ball_measures(image):
    """(centre LPS mm, volume mm^3) of the ball from partial volumes of a HU image."""
    fraction = np.clip((sitk.GetArrayFromImage(image).astype(float) + 1000.0) / 2000.0, 0.0, 1.0)
    k, j, i = np.indices(fraction.shape)
    total = fraction.sum()
    index = [float((fraction * axis).sum() / total) for axis in (i, j, k)]
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint(index))
    return centre, total * float(np.prod(image.GetSpacing()))


TRUE_VOLUME = 4.0 / 3.0 * np.pi * RADIUS_MM ** 3
EVEN = np.arange(SLICES) * TABLE_STEP_MM


@pytest.mark.parametrize("theta", [0.0, 15.0, 25.0])
def test_tilted_series_is_corrected_to_true_geometry(tmp_path, theta):
    folder = write_slices(str(tmp_path / "tilt"), ball_slices(theta, EVEN), theta, EVEN)
    image, warnings = read_ct(folder)
    centre, volume = ball_measures(image)
    error = float(np.linalg.norm(centre - ball_centre(theta)))
    volume_error = 100.0 * (volume / TRUE_VOLUME - 1.0)
    print("tilt %4.1f deg: centre error %.3f mm, volume error %+.2f %%, spacing %s"
          % (theta, error, volume_error, image.GetSpacing()))
    normal_step = TABLE_STEP_MM * np.cos(np.radians(theta))
    assert error < 0.5 * min(PIXEL_MM, normal_step)
    assert abs(volume_error) < 3.0
    np.testing.assert_allclose(image.GetSpacing(), (PIXEL_MM, PIXEL_MM, normal_step), atol=1e-5)
    row, column, normal = tilted_axes(theta)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)),
                               np.column_stack([row, column, normal]), atol=1e-6)
    if theta == 0.0:
        assert warnings == [] and image.GetSize() == (COLUMNS, ROWS, SLICES)
        return
    assert len(warnings) == 1, warnings
    assert "tilted by %.1f degrees" % theta in warnings[0] and "corrected" in warnings[0]
    # the whole sheared volume is covered: in-plane shift over the stack is 31 * sin(theta) mm
    shift_pixels = (SLICES - 1) * TABLE_STEP_MM * np.sin(np.radians(theta)) / PIXEL_MM
    assert image.GetSize() == (COLUMNS, ROWS + int(np.ceil(shift_pixels - 1e-3)), SLICES)
    # the test can see the tilt: the geometry SimpleITK gives without correction is wrong
    naive = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    assert np.linalg.norm(ball_measures(naive)[0] - ball_centre(theta)) > 2.0


@pytest.mark.parametrize("theta", [0.0, 15.0])
def test_slightly_uneven_slices_are_resampled_evenly(tmp_path, theta):
    """Table positions jittered by up to +-0.04 mm (gaps 0.92-1.08 mm, < 10 %)."""
    jitter = np.random.default_rng(7).uniform(-0.04, 0.04, SLICES)
    jitter[0] = jitter[-1] = 0.0
    table = EVEN + jitter
    folder = write_slices(str(tmp_path / "uneven"), ball_slices(theta, table), theta, table)
    image, warnings = read_ct(folder)
    centre, volume = ball_measures(image)
    error = float(np.linalg.norm(centre - ball_centre(theta)))
    volume_error = 100.0 * (volume / TRUE_VOLUME - 1.0)
    print("uneven, tilt %4.1f deg: centre error %.3f mm, volume error %+.2f %%"
          % (theta, error, volume_error))
    normal_step = TABLE_STEP_MM * np.cos(np.radians(theta))    # mean gap along the normal
    assert error < 0.5 * min(PIXEL_MM, normal_step)
    assert abs(volume_error) < 3.0
    assert image.GetSpacing()[2] == pytest.approx(normal_step, abs=1e-5)
    assert any("uneven slices" in w and "resampled to an even %.3f mm" % normal_step in w
               for w in warnings), warnings
    assert any("tilted by" in w for w in warnings) == (theta > 0)


def test_gap_below_the_limit_is_resampled(tmp_path):
    """One gap of 1.4 mm among 1.0 mm gaps (+40 %, under the 50 % limit): read, with a warning."""
    table = EVEN + np.where(np.arange(SLICES) > 20, 0.4, 0.0)
    folder = write_slices(str(tmp_path / "wide"), ball_slices(0.0, table), 0.0, table)
    image, warnings = read_ct(folder)
    centre, volume = ball_measures(image)
    assert np.linalg.norm(centre - ball_centre(0.0)) < 0.4
    assert abs(volume / TRUE_VOLUME - 1.0) < 0.03
    assert any("varies from 1.000 to 1.400 mm" in w for w in warnings), warnings


def _missing_slice_tilted(tmp):
    folder = write_slices(os.path.join(tmp, "missing"), ball_slices(15.0, EVEN), 15.0, EVEN)
    os.remove(os.path.join(folder, "slice_012.dcm"))
    return folder


def _gap_over_limit(tmp):
    table = EVEN + np.where(np.arange(SLICES) > 20, 0.6, 0.0)
    return write_slices(os.path.join(tmp, "gap16"), ball_slices(0.0, table), 0.0, table)


@pytest.mark.parametrize("build,expected", [
    (_missing_slice_tilted, "slice spacing varies from 0.966 to 1.932 mm (more than 50 %"),
    (_gap_over_limit, "slice spacing varies from 1.000 to 1.600 mm (more than 50 %"),
])
def test_badly_uneven_slices_are_refused(tmp_path, build, expected):
    assert_one_line_error(read_ct, build(str(tmp_path)), expected)


def test_oblique_tilted_series_puts_the_marker_where_it_was_acquired(tmp_path):
    """make_ct (oblique axes, anisotropic voxels) with every slice k shifted by k·tan(20°)·1.25 mm
    along its column axis: the marker's true position is where its slice was written."""
    from dicom_writer import write_dicom_series
    from synthetic_ct import MARKER_IJK, SPACING, make_ct, oblique_direction

    truth = make_ct()
    shift = oblique_direction()[:, 1] * SPACING[2] * np.tan(np.radians(20.0))
    folder = write_dicom_series(truth, str(tmp_path / "oblique"), shift_per_slice=shift)
    image, warnings = read_ct(folder)
    assert len(warnings) == 1 and "tilted by 20.0 degrees" in warnings[0]
    expected = np.add(truth.TransformIndexToPhysicalPoint(MARKER_IJK), MARKER_IJK[2] * shift)
    array = sitk.GetArrayFromImage(image)
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    box = array[k - 2:k + 3, j - 2:j + 3, i - 2:i + 3].astype(float)
    weight = np.clip(box - 100.0, 0.0, None)             # the marker above soft tissue (40 +- 20)
    index = [float((weight * axis).sum() / weight.sum()) + start for axis, start in
             zip(np.indices(box.shape)[::-1], (i - 2, j - 2, k - 2))]
    found = np.asarray(image.TransformContinuousIndexToPhysicalPoint(index))
    assert np.linalg.norm(found - expected) < 0.5 * min(image.GetSpacing())
