"""``nvseg run``: the whole pipeline end to end on an analytic two-joint CT, and every bad input
(cli_run.py, pipeline.py, postprocess.py). The CT and the hand-made networks that stand in for
the trained ones: two_joint_ct.py; cohort runs (--resume, interruptions, reruns):
test_cli_run_cohort.py.
"""

import csv
import hashlib
import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from NegativeVolumeSegmentationLib import pipeline
from NegativeVolumeSegmentationLib.inference import models as bundled_models
from NegativeVolumeSegmentationLib import labels as L
from two_joint_ct import CAP_INNER, CENTRES, INTENSITY, RADII, hand_models
from two_joint_ct import one_line_failure as _one_line_failure
from two_joint_ct import run_cli as _run


def test_end_to_end_against_analytic_truth(ct_path, tmp_path, patched_models, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, ct_path, "-o", out, "--device", "cpu")
    assert code == 0, err
    case = out / "twojoints"
    for name in ("report.json", "segmentation.seg.nrrd", "labels.nii.gz", "report.png",
                 "left_condyle.vtk", "right_negative_volume.vtk"):
        assert (case / name).is_file(), name
    rep = json.loads((case / "report.json").read_text())
    for side in L.SIDES:
        values = rep[side]
        r = RADII[side]
        nv_truth = 2.0 * np.pi / 3.0 * (CAP_INNER ** 3 - r ** 3)
        assert np.linalg.norm(np.subtract(values["condyle_center_lps_mm"], CENTRES[side])) < 0.5
        assert values["condyle_volume_mm3"] == pytest.approx(4.0 / 3.0 * np.pi * r ** 3, rel=0.02)
        assert values["negative_volume_mm3"] == pytest.approx(nv_truth, rel=0.04)
        assert values["joint_space_mean_mm"] == pytest.approx(CAP_INNER - r, abs=0.15)
    assert rep["asymmetry_percent"]["condyle_volume"] > 6.0
    assert set(rep["timings_s"]) >= {"read", "localise", "segment", "postprocess", "geometry",
                                     "write", "total"}
    assert rep["device"] == "cpu"
    rows = list(csv.DictReader(open(str(out / "cohort.csv"))))
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert float(rows[0]["left_negative_volume_mm3"]) == pytest.approx(
        rep["left"]["negative_volume_mm3"], rel=1e-4)
    assert rows[0]["mode"] == "confined" and rows[0]["series"] == ""
    for side in L.SIDES:  # concentric spheres: the superior space is the gap everywhere (the
        # CT paints bone without partial volume on 0.8 mm slices: within half a slice)
        assert float(rows[0]["%s_joint_space_superior_mm" % side]) == pytest.approx(
            CAP_INNER - RADII[side], abs=0.4), rows[0]
    # a CT coarser than 0.3 mm is measured on the engine's 0.3 mm grid over the joints' region
    # (engine/measurement_grid.py): the label map written is that one, and its NV and condyle
    # voxels hold the reported volumes
    labels = sitk.ReadImage(str(case / "labels.nii.gz"))
    ct = sitk.ReadImage(ct_path)
    assert max(ct.GetSpacing()) > 0.3
    assert np.allclose(labels.GetSpacing(), 0.3) and labels.GetSize() != ct.GetSize()
    assert np.allclose(labels.GetDirection(), ct.GetDirection(), atol=1e-5)
    voxel = float(np.prod(labels.GetSpacing()))
    array = sitk.GetArrayViewFromImage(labels)
    for side in L.SIDES:
        for key, value in (("negative_volume_mm3", L.NEGATIVE_VOLUME[side]),
                           ("condyle_volume_mm3", L.CONDYLE[side])):
            assert np.count_nonzero(array == value) * voxel == pytest.approx(rep[side][key])
    assert "left" in stdout and "negative volume" in stdout


def test_a_dicom_study_folder_is_measured_on_its_axial_series(ct_path, tmp_path,
                                                               patched_models, capsys):
    """The analytic CT as series 2 of a study folder beside a scout and a second CT series in
    which the condyles are temporal-bone bright (were it measured, neither side would read the
    analytic truth); report.json and cohort.csv name the series measured."""
    from dicom_writer import write_dicom_series

    ct = sitk.ReadImage(ct_path)
    folder = str(tmp_path / "study")
    uid = "1.2.826.0.1.3680043.2.1125.11."
    write_dicom_series(ct, folder, uid + "2", tags=[("0020|0011", "2"), ("0018|1210", "H70h"),
                                                    ("0008|103e", "TMJ bone")])
    other = sitk.GetArrayFromImage(ct)
    other[other == 1500] = 700
    other = sitk.GetImageFromArray(other)
    other.CopyInformation(ct)
    write_dicom_series(other, folder, uid + "1", tags=[("0020|0011", "3")])
    write_dicom_series(ct, folder, uid + "0", count=2,
                       tags=[("0020|0011", "1"), ("0008|0008", "ORIGINAL\\PRIMARY\\LOCALIZER")])
    out = tmp_path / "out"
    code, _stdout, err = _run(capsys, folder, "-o", out, "--device", "cpu")
    assert code == 0, err
    rep = json.loads((out / "study" / "report.json").read_text())
    assert rep["inputs"]["dicom_series"] == {"uid": uid + "2", "number": "2", "kernel": "H70h",
                                             "description": "TMJ bone",
                                             "thickness": "%.6f" % ct.GetSpacing()[2]}
    for side in L.SIDES:
        nv_truth = 2.0 * np.pi / 3.0 * (CAP_INNER ** 3 - RADII[side] ** 3)
        assert rep[side]["negative_volume_mm3"] == pytest.approx(nv_truth, rel=0.04)
    row = list(csv.DictReader(open(str(out / "cohort.csv"))))[0]
    assert row["series"] == "2 'TMJ bone' (H70h)"
    assert "measured series 2 'TMJ bone' (H70h, 70 slices)" in row["warnings"]
    assert "series 3 (70 slices)" in row["warnings"] and "localizer, 2 files" in row["warnings"]


def test_batch_goes_on_after_a_failed_case(ct_path, tmp_path, patched_models, capsys):
    folder = tmp_path / "cases"
    folder.mkdir()
    os.symlink(ct_path, str(folder / "a_good.nii.gz"))
    flat = sitk.Image([40, 40], sitk.sitkInt16)
    sitk.WriteImage(flat, str(folder / "b_flat.nii.gz"))
    out = tmp_path / "out"
    code, _out, err = _run(capsys, folder, "-o", out)
    assert code == 0
    rows = {r["case"]: r for r in csv.DictReader(open(str(out / "cohort.csv")))}
    assert rows["a_good"]["status"] == "ok" and rows["b_flat"]["status"] == "failed"
    assert "2D" in rows["b_flat"]["error"]
    assert "2 cases: 1 measured on both sides, 0 on one side, 0 not measurable, 1 failed" in _out
    assert not (out / "b_flat").exists()
    assert "b_flat" in err


@pytest.mark.parametrize("argv, text", [
    (["run", "x.nii.gz", "-o", "out", "--mode", "wide"], "nvseg run: argument --mode: invalid"),
    (["run", "x.nii.gz"], "nvseg run: the following arguments are required: -o/--output"),
    (["negative-volume", "l.nii.gz", "-o", "o", "--max-distance", "abc"],
     "nvseg negative-volume: argument --max-distance: invalid float value: 'abc'"),
    (["bogus"], "nvseg: argument COMMAND: invalid choice: 'bogus'"),
])
def test_usage_errors_are_one_line(argv, text, capsys):
    """argparse printed its usage text (5-6 lines) before the error."""
    from NegativeVolumeSegmentationLib.cli import main

    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(text) and "--help)" in err, err


def test_missing_input(tmp_path, patched_models, capsys):
    code, _o, err = _run(capsys, tmp_path / "nope.nii.gz", "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "no such file" in err and not (tmp_path / "out").exists()


def test_empty_dicom_folder(tmp_path, patched_models, capsys):
    (tmp_path / "empty").mkdir()
    code, _o, err = _run(capsys, tmp_path / "empty", "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "no CT files" in err and not (tmp_path / "out").exists()


def test_2d_image_single_case(tmp_path, patched_models, capsys):
    sitk.WriteImage(sitk.Image([64, 64], sitk.sitkInt16), str(tmp_path / "flat.nrrd"))
    code, _o, err = _run(capsys, tmp_path / "flat.nrrd", "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "2D" in err
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["cohort.csv"]


def test_nan_voxels(tmp_path, patched_models, capsys):
    arr = np.full((30, 30, 30), -1000.0, np.float32)
    arr[5, 5, 5] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "nan.nii.gz"))
    code, _o, err = _run(capsys, tmp_path / "nan.nii.gz", "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "NaN" in err and not (tmp_path / "out" / "nan").exists()


def test_mri_like_intensities_warn(tmp_path, patched_models, capsys):
    arr = np.random.default_rng(0).uniform(0, 800, (50, 60, 60)).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((1.5, 1.5, 1.5))           # 590 cm3: head-sized
    sitk.WriteImage(image, str(tmp_path / "mri.nii.gz"))
    code, _o, err = _run(capsys, tmp_path / "mri.nii.gz", "-o", tmp_path / "out")
    assert code == 0
    rep = json.loads((tmp_path / "out" / "mri" / "report.json").read_text())
    assert any("MRI" in w for w in rep["warnings"]) and "MRI" in err
    assert rep["left"] is None and rep["right"] is None   # nothing faked


def test_unwritable_output(ct_path, tmp_path, patched_models, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _o, err = _run(capsys, ct_path, "-o", blocker)
    _one_line_failure(code, err)
    assert "not a folder" in err


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0,
                    reason="a read-only folder (chmod 555) locks out no one as root, and is no "
                           "POSIX mode on Windows")
def test_output_in_a_locked_folder(ct_path, tmp_path, patched_models, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _o, err = _run(capsys, ct_path, "-o", locked / "sub")
    finally:
        locked.chmod(0o755)
    _one_line_failure(code, err)
    assert os.listdir(str(locked)) == []


def test_a_cohort_csv_that_cannot_be_replaced_is_refused_before_computing(ct_path, tmp_path,
                                                                          patched_models, capsys):
    """A folder named cohort.csv (or a locked file) in the output folder: the case was computed
    and written, then "internal error: IsADirectoryError" (exit 1). Now refused up front."""
    out = tmp_path / "out"
    (out / "cohort.csv").mkdir(parents=True)
    code, _o, err = _run(capsys, ct_path, "-o", out)
    _one_line_failure(code, err)
    assert "cohort.csv: a folder or other non-file of that name is in the way" in err
    assert sorted(os.listdir(str(out))) == ["cohort.csv"]       # no case computed


def test_a_cohort_csv_that_fails_to_be_replaced_says_so_in_one_line(ct_path, tmp_path,
                                                                    patched_models, capsys,
                                                                    monkeypatch):
    """cohort.csv locked by another program (Excel on Windows) or immutable: replacing it
    failed with "internal error: PermissionError" (exit 1) after the case was computed."""
    from NegativeVolumeSegmentationLib.cli import run as run_module

    def locked(rows, out_dir):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_module, "write_cohort_csv", locked)
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "cannot write %s: Permission denied" % (tmp_path / "out" / "cohort.csv") in err
    assert "internal error" not in err
    assert (tmp_path / "out" / "twojoints" / "report.json").exists()   # the case is kept


def test_missing_bundled_model_names_the_file(ct_path, tmp_path, capsys):
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out", "--model-dir", tmp_path)
    _one_line_failure(code, err)
    assert str(tmp_path / "tmj_segmentation.pt") in err
    assert not (tmp_path / "out").exists()


def test_corrupt_model_file(ct_path, tmp_path, capsys):
    from NegativeVolumeSegmentationLib.inference.checkpoint import sha256_of

    models = tmp_path / "models"
    models.mkdir()
    for name in bundled_models.MODEL_FILES.values():
        (models / name).write_bytes(b"not a checkpoint" * 10)
    sums = "".join("%s  %s\n" % (sha256_of(str(models / n)), n)
                   for n in bundled_models.MODEL_FILES.values())
    (models / "SHA256SUMS").write_text(sums)
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out", "--model-dir", models)
    _one_line_failure(code, err)
    assert "cannot read model file" in err
    (models / "SHA256SUMS").write_text(sums.replace(sums[:8], "00000000", 1))
    code, _o, err = _run(capsys, ct_path, "-o", tmp_path / "out", "--model-dir", models)
    _one_line_failure(code, err)
    assert "corrupt" in err and not (tmp_path / "out").exists()


def test_pipeline_on_an_in_memory_image(ct_path):
    """As the Slicer module calls it: an image instead of a path, same numbers as from the file."""
    image = sitk.ReadImage(ct_path)
    result = pipeline.run_case(image, hand_models(), device="cpu")
    assert result.report["inputs"]["ct"] == "in-memory image"
    for side in L.SIDES:
        r = RADII[side]
        assert result.report[side]["condyle_volume_mm3"] == pytest.approx(4.0 / 3.0 * np.pi * r ** 3,
                                                                          rel=0.02)
    with pytest.raises(Exception, match="3D"):
        pipeline.run_case(sitk.Image([10, 10], sitk.sitkFloat32), hand_models(), device="cpu")


def test_the_rays_reach_and_the_mode_do_not_move_the_measurement_grid(ct_path):
    """The condyles here sit 2.5 / 3 mm under their caps, so rays of 6, 10 or 14 mm meet the same
    bone at the same points: the condyle volume and the NV must not change with the reach. They
    did (left condyle 1160.49 / 1159.92 / 1159.54 mm3, right 908.04 / 911.74 / 909.52; the real
    head's 1772.2 / 1764.9 / 1784.3 with 8 / 10 / 12 mm): the 0.3 mm grid was laid from the part
    of the CT measured, which grows with the reach, so its voxels sat a fraction of a step
    elsewhere."""
    from NegativeVolumeSegmentationLib import RunOptions

    runs = [pipeline.run_case(ct_path, hand_models(), RunOptions(max_distance_mm=d), "cpu")
            for d in (6.0, 10.0, 14.0)]
    for side in L.SIDES:
        for key in ("condyle_volume_mm3", "negative_volume_mm3"):
            values = [run.report[side][key] for run in runs]
            assert values == [values[1]] * 3, (side, key, values)
    # the label maps lie on one lattice of 0.3 mm voxels, their origins whole steps apart
    axes = np.reshape(runs[1].labels.GetDirection(), (3, 3))   # columns: the grid's axes (LPS)
    origins = np.array([run.labels.GetOrigin() for run in runs])
    steps = (origins - origins[1]).dot(axes) / 0.3
    assert np.allclose(steps, np.round(steps), atol=1e-6) and np.abs(steps).max() > 3
    # nor the mode: the condyle is the same bone (paper mode's 30 mm cube widened the part
    # measured, and the grid with it: a one-joint crop of the real head read 1769.6 / 1759.0)
    paper = pipeline.run_case(ct_path, hand_models(), RunOptions(mode="paper"), "cpu")
    for side in L.SIDES:
        assert paper.report[side]["condyle_volume_mm3"] == runs[1].report[side][
            "condyle_volume_mm3"], side


def _constant_checkpoint(path, out_channels, bias, metadata):
    """A real checkpoint file (small U-Net) whose last convolution outputs constant logits."""
    from NegativeVolumeSegmentationLib.inference.checkpoint import save_checkpoint
    from NegativeVolumeSegmentationLib.networks import build_network

    net = build_network("unet3d", {"in_channels": 1, "out_channels": out_channels,
                                   "base_channels": 4, "depth": 2})
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return save_checkpoint(str(path), net, metadata)


def test_real_checkpoint_files_load_and_nothing_is_faked(ct_path, tmp_path, capsys):
    """Bundled-model loading with sha256 check, from real checkpoint files; a localiser that
    sees no joint gives both sides null with the reason, never a made-up number."""
    models = tmp_path / "models"
    models.mkdir()
    base = {"intensity": INTENSITY, "training_data": "test: constant outputs"}
    sums = []
    for name, out, bias, meta in (
            ("tmj_localizer.pt", 2, [5.0, -5.0],
             dict(base, label_names=["background", "temporomandibular joint"],
                  target_spacing_mm=[3.0, 3.0, 3.0])),
            ("tmj_segmentation.pt", 3, [5.0, -5.0, -5.0],
             dict(base, label_names=["background", "mandibular condyle", "temporal bone"],
                  target_spacing_mm=[0.5, 0.5, 0.5]))):
        sums.append("%s  %s\n" % (_constant_checkpoint(models / name, out, bias, meta), name))
    (models / "SHA256SUMS").write_text("".join(sums))
    out = tmp_path / "out"
    code, _o, err = _run(capsys, ct_path, "-o", out, "--model-dir", models)
    assert code == 0, err
    rep = json.loads((out / "twojoints" / "report.json").read_text())
    assert rep["left"] is None and rep["right"] is None
    assert any("no temporomandibular joint" in w for w in rep["warnings"])
    assert rep["models"] == {"localizer": "tmj_localizer.pt", "segmentation": "tmj_segmentation.pt"}
    for kind, name in rep["models"].items():   # the files' own sha256, hashed here
        assert rep["model_sha256"][kind] == hashlib.sha256((models / name).read_bytes()).hexdigest()


def test_volume_without_a_head(tmp_path, patched_models, capsys):
    arr = np.full((60, 60, 60), -1000.0, np.float32)
    arr[20:30, 20:30, 20:30] = 1200.0            # 1 cm3 of "bone" in air: no head
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(image, str(tmp_path / "air.nii.gz"))
    code, _o, err = _run(capsys, tmp_path / "air.nii.gz", "-o", tmp_path / "out")
    _one_line_failure(code, err)
    assert "no head" in err and "1 cm3" in err
    assert not (tmp_path / "out" / "air").exists()


def test_real_head_ct_with_bundled_models(real_head_ct_path, tmp_path, capsys):
    """Acceptance on real anatomy (issue 5): both joints found, non-empty MC / TB / NV with
    plausible numbers. Skips until the bundled models exist."""
    try:
        bundled_models.load_models()
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)
    out = tmp_path / "out"
    code, _o, err = _run(capsys, real_head_ct_path, "-o", out)
    assert code == 0, err
    rep = json.loads((out / "vhf_head" / "report.json").read_text())
    assert rep["left"] is not None and rep["right"] is not None, rep["warnings"]
    assert rep["left"]["condyle_center_lps_mm"][0] > rep["right"]["condyle_center_lps_mm"][0]
    # Condylar heads read by eye from this scan's slices (1 mm voxels, identity direction, origin
    # (110, 120, 1520)): voxel x ~ 192 (left) and ~ 85 (right), y ~ 100-115, z ~ 68-78.
    for side, expected in (("left", (302.0, 228.0, 1593.0)), ("right", (195.0, 228.0, 1593.0))):
        found = np.asarray(rep[side]["condyle_center_lps_mm"])
        assert np.linalg.norm(found - expected) < 10.0, (side, found)
    for side in L.SIDES:
        values = rep[side]
        assert 150.0 < values["condyle_volume_mm3"] < 3000.0
        assert 0.0 < values["negative_volume_mm3"] < 3000.0
        assert 0.3 < values["joint_space_mean_mm"] < 6.0
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "vhf_head" / "labels.nii.gz")))
    for value in range(1, 7):
        assert (labels == value).sum() > 50, value
