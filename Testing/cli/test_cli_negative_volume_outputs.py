"""`nvseg negative-volume`: the files written, all or nothing, and the report.json contract
(cli/negative_volume.py, pipeline.measure_labels, report/).

Truth: the analytic phantom of analytic_case.py (the ``case`` fixture, conftest.py), whose
negative volumes and joint spaces (2 and 3 mm) are known in closed form. The CT beside the labels
(``--ct``): test_cli_negative_volume_ct.py; the label maps users bring and the input checks:
test_cli_negative_volume_labels.py.
"""

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.vtkIOLegacy import vtkPolyDataReader

from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom
from analytic_case import assert_near_truth as _near_truth
from analytic_case import read_report as _report
from analytic_case import run_negative_volume as _run

SIDE_KEYS = ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
             "joint_space_mean_mm", "condyle_center_lps_mm")


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

    arr = np.array([[0, 1, 2, 3, 4, 5, 6]], np.uint8)   # a sampled plane of a label map
    values = figure.label_background(arr)[0]
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


def test_an_input_the_write_would_replace_is_refused_and_kept(case, tmp_path, capsys):
    """Re-measuring a segmentation.seg.nrrd corrected in Slicer into its own results folder
    would replace it with our output: refused (exit 2, one line) before anything is written;
    likewise labels.nii.gz, a CT named like one of our files, and the same folder reached
    through a link. Another output folder measures the corrected file."""
    from NegativeVolumeSegmentationLib.cli import main
    from NegativeVolumeSegmentationLib.io.segmentation_files import write_label_map

    ph, folder = case
    inplace = tmp_path / "inplace"
    inplace.mkdir()
    for name in ("segmentation.seg.nrrd", "labels.nii.gz"):
        write_label_map(ph.labels, str(inplace / name))
    ct_named_like_ours = tmp_path / "ct_folder"
    ct_named_like_ours.mkdir()
    with open(os.path.join(folder, "ct.nii.gz"), "rb") as source:
        (ct_named_like_ours / "labels.nii.gz").write_bytes(source.read())
    os.symlink(str(inplace), str(tmp_path / "link"))
    before = dict((p, p.read_bytes()) for p in (inplace / "segmentation.seg.nrrd",
                                                inplace / "labels.nii.gz",
                                                ct_named_like_ours / "labels.nii.gz"))
    for argv, replaced in (
            ([str(inplace / "segmentation.seg.nrrd"), "-o", str(inplace)],
             inplace / "segmentation.seg.nrrd"),
            ([str(inplace / "labels.nii.gz"), "-o", str(inplace) + os.sep],
             inplace / "labels.nii.gz"),
            ([str(inplace / "segmentation.seg.nrrd"), "-o", str(tmp_path / "link")],
             inplace / "segmentation.seg.nrrd"),
            ([os.path.join(folder, "labels.nii.gz"), "--ct",
              str(ct_named_like_ours / "labels.nii.gz"), "-o", str(ct_named_like_ours)],
             ct_named_like_ours / "labels.nii.gz")):
        capsys.readouterr()
        assert main(["negative-volume"] + argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "would replace the input" in err, err
        assert os.path.basename(str(replaced)) in err
    for path, content in before.items():
        assert path.read_bytes() == content, path
    assert sorted(os.listdir(str(inplace))) == ["labels.nii.gz", "segmentation.seg.nrrd"]
    assert sorted(os.listdir(str(ct_named_like_ours))) == ["labels.nii.gz"]
    out = tmp_path / "elsewhere"
    assert _run([str(inplace / "segmentation.seg.nrrd"), "-o", str(out)]) == 0
    _near_truth(_report(out), ph)
