"""`nvseg negative-volume`: files written all or nothing, report.json contract, input checks."""

import argparse
import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.vtkIOLegacy import vtkPolyDataReader

from NegativeVolumeSegmentationLib import RunOptions, pipeline
from NegativeVolumeSegmentationLib.cli import negative_volume as cli_negative_volume
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.phantom import write_phantom
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom

SIDE_KEYS = ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
             "joint_space_mean_mm", "condyle_center_lps_mm")


def _run(argv):
    parser = argparse.ArgumentParser(prog="nvseg")
    cli_negative_volume.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["negative-volume"] + argv)
    return args.func(args)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    ph = make_analytic_phantom(seed=8, left={"joint_space_mm": 2.0}, right={"joint_space_mm": 3.0})
    write_phantom(ph, str(folder))
    return ph, str(folder)


def test_outputs_and_report_contract(case, tmp_path):
    ph, folder = case
    out = str(tmp_path / "out")
    assert _run([os.path.join(folder, "labels.nii.gz"), "--ct", os.path.join(folder, "ct.nii.gz"),
                 "-o", out]) == 0
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    for side in ("left", "right"):
        for key in SIDE_KEYS:
            assert key in report[side]
        truth = ph.truth[side]["negative_volume_mm3"]
        assert abs(report[side]["negative_volume_mm3"] / truth - 1) < 0.06
    left, right = (report[s]["negative_volume_mm3"] for s in ("left", "right"))
    assert report["asymmetry_percent"]["negative_volume"] == pytest.approx(
        100 * abs(left - right) / (left + right))
    assert report["timings_s"]["total"] > 0 and report["device"] == "cpu" and report["version"]
    assert isinstance(report["warnings"], list)
    labels = sitk.ReadImage(os.path.join(out, "labels.nii.gz"))
    arr = sitk.GetArrayFromImage(labels)
    assert set(np.unique(arr)) == {0, 1, 2, 3, 4, 5, 6}
    voxel = float(np.prod(labels.GetSpacing()))
    assert (arr == 5).sum() * voxel == pytest.approx(left)
    assert np.allclose(labels.GetOrigin(), ph.labels.GetOrigin(), atol=1e-4)
    reader = vtkPolyDataReader()
    reader.SetFileName(os.path.join(out, "left_condyle.vtk"))
    reader.ReadAllScalarsOn()
    reader.Update()
    thickness = reader.GetOutput().GetPointData().GetArray("JointSpaceThickness_mm")
    assert thickness is not None
    values = np.array([thickness.GetValue(i) for i in range(thickness.GetNumberOfTuples())])
    assert abs(np.median(values[values > 0]) - 2.0) < 0.1
    for side in ("left", "right"):
        for mesh in ("temporal_bone", "inflated", "negative_volume"):
            assert os.path.getsize(os.path.join(out, "%s_%s.vtk" % (side, mesh))) > 0
    assert not [n for n in os.listdir(out) if n.startswith(".nvseg-partial")]


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


def test_without_ct_the_picture_shows_the_label_map_and_slicer_gets_its_segmentation(case,
                                                                                     tmp_path):
    """A label map alone (no --ct): report.png is drawn on the label map's slices and says so,
    and segmentation.seg.nrrd holds the six segments of labels.nii.gz voxel for voxel, so the
    NV segment Slicer loads has the reported NV (the analytic phantom's closed-form truth within
    6 %)."""
    from NegativeVolumeSegmentationLib.io.segmentation_files import read_label_map

    ph, folder = case
    out = tmp_path / "out"
    assert _run([os.path.join(folder, "labels.nii.gz"), "-o", str(out)]) == 0
    assert (out / "report.png").stat().st_size > 20000
    with open(str(out / "report.json")) as f:
        report = json.load(f)
    labels = sitk.ReadImage(str(out / "labels.nii.gz"))
    segmentation = read_label_map(str(out / "segmentation.seg.nrrd"))
    assert np.array_equal(sitk.GetArrayFromImage(segmentation), sitk.GetArrayFromImage(labels))
    assert np.allclose(segmentation.GetOrigin(), labels.GetOrigin(), atol=1e-6)
    voxel = float(np.prod(segmentation.GetSpacing()))
    arr = sitk.GetArrayFromImage(segmentation)
    for side, nv_value in (("left", 5), ("right", 6)):
        got = (arr == nv_value).sum() * voxel
        assert got == pytest.approx(report[side]["negative_volume_mm3"])
        assert abs(got / ph.truth[side]["negative_volume_mm3"] - 1) < 0.06


def test_without_matplotlib_everything_but_the_picture_is_written(case, tmp_path, monkeypatch,
                                                                  capsys):
    """Slicer's own Python has no matplotlib: the command still succeeds, writes the rest and
    says in one warning why report.png is missing."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    _ph, folder = case
    out = tmp_path / "out"
    assert _run([os.path.join(folder, "labels.nii.gz"), "-o", str(out)]) == 0
    assert not (out / "report.png").exists()
    for name in ("report.json", "labels.nii.gz", "segmentation.seg.nrrd", "left_condyle.vtk"):
        assert (out / name).is_file(), name
    with open(str(out / "report.json")) as f:
        warnings = json.load(f)["warnings"]
    assert any("report.png not written: matplotlib" in w for w in warnings), warnings
    assert "report.png not written" in capsys.readouterr().err


def test_label_background_paints_bone_for_the_bone_window():
    from NegativeVolumeSegmentationLib.report import figure

    arr = np.array([[[0, 1, 2, 3, 4, 5, 6]]], np.uint8)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.5, 0.7, 0.9))
    image.SetOrigin((3.0, -2.0, 10.0))
    painted = figure.label_background(image)
    assert painted.GetSpacing() == image.GetSpacing() and painted.GetOrigin() == image.GetOrigin()
    values = sitk.GetArrayFromImage(painted)[0, 0]
    bone, other = values[1:5], values[[0, 5, 6]]
    assert len(set(bone)) == 1 and len(set(other)) == 1    # condyle and TB alike, the rest alike
    low, high = figure.BONE_WINDOW
    assert low < other[0] < bone[0] < high   # both inside the bone window, bone the lighter
    assert bone[0] - other[0] > 0.4 * (high - low)


def test_missing_side_is_null_with_reason(tmp_path):
    ph = make_analytic_phantom(seed=9, sides=("right",))
    path = str(tmp_path / "labels.nrrd")
    sitk.WriteImage(ph.labels, path)
    out = str(tmp_path / "out")
    assert _run([path, "-o", out, "--mode", "paper", "--max-distance", "6"]) == 0
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    assert report["left"] is None and report["right"] is not None
    assert report["asymmetry_percent"] == {"negative_volume": None, "condyle_volume": None}
    assert any("left side" in w for w in report["warnings"])
    assert report["right"]["mode"] == "paper"


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


def test_bad_arguments(case, tmp_path):
    _ph, folder = case
    with pytest.raises(InputError):
        _run([os.path.join(folder, "labels.nii.gz"), "-o", str(tmp_path), "--max-distance", "0"])
    with pytest.raises(InputError, match="no such file"):
        _run([str(tmp_path / "absent.nii.gz"), "-o", str(tmp_path / "o")])
    bad = sitk.Image(8, 8, 8, sitk.sitkUInt8) + 9
    path = str(tmp_path / "bad.nii.gz")
    sitk.WriteImage(bad, path)
    with pytest.raises(InputError, match="values"):
        _run([path, "-o", str(tmp_path / "o2")])
