"""`nvseg negative-volume --ct`: the CT beside the label map, a DICOM series named in the
report, a CT elsewhere refused, a CT on another grid resampled and its own grid gated
(cli/negative_volume.py, pipeline.measure_labels, quality/).

Truth: the analytic phantom of analytic_case.py (the ``case`` fixture, conftest.py), whose
negative volumes are known in closed form, and the numbers measured with its CT on the labels'
own grid; the DICOM series is that CT written by dicom_writer.py.
"""

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import RunOptions, pipeline
from NegativeVolumeSegmentationLib.errors import InputError
from analytic_case import run_negative_volume as _run


def test_a_dicom_ct_is_named_in_the_report(case, tmp_path):
    """``--ct`` a DICOM folder: the same numbers as its NIfTI, and report.json names the series."""
    from dicom_writer import write_dicom_series

    ph, folder = case
    dicom = write_dicom_series(sitk.ReadImage(os.path.join(folder, "ct.nii.gz")),
                               str(tmp_path / "ct_series"), "1.2.826.0.1.3680043.2.1125.12.1",
                               tags=[("0020|0011", "4"), ("0008|103e", "TMJ")])
    reports = []
    for ct, out in ((os.path.join(folder, "ct.nii.gz"), "nifti"), (dicom, "dicom")):
        assert _run([os.path.join(folder, "labels.nii.gz"), "--ct", ct,
                     "-o", str(tmp_path / out)]) == 0
        with open(str(tmp_path / out / "report.json")) as f:
            reports.append(json.load(f))
    assert reports[0]["inputs"]["dicom_series"] is None
    assert reports[1]["inputs"]["dicom_series"]["number"] == "4"
    assert reports[1]["inputs"]["dicom_series"]["description"] == "TMJ"
    for side in ("left", "right"):
        assert reports[1][side]["negative_volume_mm3"] == pytest.approx(
            reports[0][side]["negative_volume_mm3"], rel=1e-3)


def test_ct_elsewhere_is_refused_and_nothing_written(case, tmp_path):
    ph, folder = case
    ct = sitk.ReadImage(os.path.join(folder, "ct.nii.gz"))
    moved = sitk.Image(ct)
    moved.SetOrigin(tuple(np.add(ct.GetOrigin(), (1.0, 0.0, 0.0))))  # 2 voxels off the labels
    ct_path = str(tmp_path / "moved_ct.nii.gz")
    sitk.WriteImage(moved, ct_path)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="reaches outside the CT"):
        _run([os.path.join(folder, "labels.nii.gz"), "--ct", ct_path, "-o", str(out)])
    assert not out.exists() or os.listdir(str(out)) == []


def _grid(image, spacing):
    """``image`` resampled (linear) onto a grid of ``spacing`` (mm) over the same extent."""
    size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing)]
    origin = np.asarray(image.GetOrigin()) + 0.5 * (np.asarray(spacing) - image.GetSpacing())
    return sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, origin.tolist(),
                         list(spacing), image.GetDirection(), -1000.0, image.GetPixelID())


def test_ct_on_another_grid_is_resampled_and_its_own_grid_is_gated(case, tmp_path):
    """Labels on a finer grid than their CT (as nvseg run writes them): the CT is resampled onto
    the labels' grid, the numbers are those measured with the CT on the labels' own grid, and
    the quality gate reads the CT's grid too: 2.5 mm slices are not measurable (limit 2 mm),
    1.5 mm slices a caution (over 1 mm), whatever the labels' grid."""
    ph, folder = case
    labels_path = os.path.join(folder, "labels.nii.gz")
    ct = sitk.ReadImage(os.path.join(folder, "ct.nii.gz"))
    _run([labels_path, "--ct", os.path.join(folder, "ct.nii.gz"), "-o", str(tmp_path / "same")])
    with open(str(tmp_path / "same" / "report.json")) as f:
        same = json.load(f)
    coarse_path = str(tmp_path / "ct_slices_1.5.nii.gz")
    sitk.WriteImage(_grid(ct, (0.5, 0.5, 1.5)), coarse_path)
    out = tmp_path / "coarse"
    _run([labels_path, "--ct", coarse_path, "-o", str(out)])
    with open(str(out / "report.json")) as f:
        report = json.load(f)
    assert any("resampled onto the label map's grid" in w for w in report["warnings"])
    assert any("slices 1.5 mm" in c for c in report["cautions"]), report["cautions"]
    for side in ("left", "right"):
        got = report[side]["negative_volume_mm3"]
        assert got == pytest.approx(same[side]["negative_volume_mm3"], rel=1e-9)
        truth = ph.truth[side]["negative_volume_mm3"]
        assert abs(got / truth - 1) < 0.06, (side, got, truth)
    # too few slices for a CT file (12), so in memory: 2.5 mm slices are not measurable
    thick = pipeline.measure_labels(labels_path, RunOptions(), ct=_grid(ct, (0.5, 0.5, 2.5)))
    assert thick.report["left"] is None and thick.report["right"] is None
    assert "slices 2.5 mm" in thick.report["quality"]["scan"]["reason"]


@pytest.mark.parametrize("spacing", [(0.497, 0.497, 0.497), (0.6, 0.6, 2.0), (0.81, 0.77, 1.5)])
def test_the_runs_own_measurement_grid_is_of_the_same_scan(spacing):
    """nvseg run writes its labels on the engine's 0.3 mm grid laid over the CT's voxel cells
    from a corner (shape_interpolation.fine_grid): its voxel centres may lie past the CT's last
    centre by more than half a CT voxel (a CBCT-like phantom at 0.497 mm: 0.377 mm), and the
    run's labels.nii.gz measured again with its CT was refused as "not the same scan". Any such
    grid is accepted; with one more fine voxel on its far side (its last centre then more than
    half a fine step past the CT's cells) it is not."""
    from NegativeVolumeSegmentationLib.engine.shape_interpolation import fine_grid
    from NegativeVolumeSegmentationLib.io.label_grid import ct_on_label_grid

    ct = sitk.Image([37, 41, 23], sitk.sitkInt16)
    ct.SetSpacing(spacing)
    ct.SetOrigin((-11.3, 20.2, 5.7))
    cells_end = np.asarray(ct.GetOrigin()) + np.asarray(spacing) * (np.asarray(ct.GetSize()) - 0.5)
    past_half_a_voxel = 0
    for corner in np.random.default_rng(0).uniform(-30.0, 30.0, size=(12, 3)):
        grid = fine_grid(ct, corner=corner)
        last = np.asarray(grid.TransformIndexToPhysicalPoint([n - 1 for n in grid.GetSize()]))
        past = last - (cells_end - 0.5 * np.asarray(spacing))   # past the CT's last centres
        past_half_a_voxel += int(np.any(past > 0.5 * np.asarray(spacing)))
        ct_on_label_grid(grid, ct)
        longer = sitk.Image([n + 1 for n in grid.GetSize()], sitk.sitkUInt8)
        longer.SetSpacing(grid.GetSpacing())
        longer.SetOrigin(grid.GetOrigin())
        longer.SetDirection(grid.GetDirection())
        with pytest.raises(InputError, match="reaches outside the CT"):
            ct_on_label_grid(longer, ct)
    assert past_half_a_voxel > 0   # the grids refused before are among those accepted
