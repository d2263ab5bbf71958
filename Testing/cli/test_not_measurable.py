"""``nvseg run`` and the quality gate: a scan that cannot be measured gives a report that says so
(exit 0, no numbers, no asymmetry, the reason in report.json, cohort.csv, report.png and the
Slicer panel's text) and does not run the networks; good scans stay measurable.

Inputs: the real head CT (../shared, skipped with a message when absent) resampled to
1 x 1 x 5 mm and 3.2 x 3.2 x 1.5 mm, clipped at 900 HU, and at its own 1 mm; synthetic MRI-like and 8-bit volumes;
a held-out head phantom at 0.65 x 0.65 x 1.25 mm (truth.json as reference).
"""

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import cli
from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference import models as bundled_models


class _NoNetworks(object):
    """Stands in for the models where the gate must stop the case before any network runs."""

    files = {}

    def __getattr__(self, name):
        raise AssertionError("a network was used (models.%s) on a scan that is not measurable"
                             % name)


@pytest.fixture
def no_networks(monkeypatch):
    monkeypatch.setattr(bundled_models, "load_models",
                        lambda model_dir=None, device="cpu": _NoNetworks())


@pytest.fixture(scope="module")
def have_models():
    try:
        bundled_models.load_models(device="cpu")
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)


def _run(capsys, *argv):
    code = cli.main(["run"] + [str(a) for a in argv] + ["--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def _resampled(path, spacing, out):
    image = sitk.ReadImage(path)
    size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing)]
    coarse = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(),
                           spacing, image.GetDirection(), -1024.0, image.GetPixelID())
    sitk.WriteImage(coarse, str(out))
    return str(out)


def _assert_not_measurable(out, case, words):
    rep = json.loads((out / case / "report.json").read_text())
    assert rep["left"] is None and rep["right"] is None
    assert rep["asymmetry_percent"] == {"negative_volume": None, "condyle_volume": None}
    assert rep["quality"]["scan"]["measurable"] is False
    for side in L.SIDES:
        assert rep["quality"][side]["measurable"] is False
        assert words in rep["quality"][side]["reason"]
    assert not {"localise", "segment", "geometry"} & set(rep["timings_s"])
    row = next(csv.DictReader(open(str(out / "cohort.csv"))))
    assert row["status"] == "ok"
    for side in L.SIDES:
        assert row[side + "_measurable"] == "no" and words in row[side + "_reason"]
        assert row[side + "_negative_volume_mm3"] == "" and row[side + "_condyle_volume_mm3"] == ""
    assert row["asymmetry_negative_volume_percent"] == ""
    assert (out / case / "report.png").stat().st_size > 20000
    assert not sitk.GetArrayFromImage(sitk.ReadImage(str(out / case / "labels.nii.gz"))).any()
    return rep


@pytest.mark.parametrize("spacing,name,words", [
    ((1.0, 1.0, 5.0), "head_1x1x5", "slices 5 mm"),
    ((3.2, 3.2, 1.5), "head_3p2x3p2x1p5", "in-plane pixels 3.2 x 3.2 mm")])
def test_coarse_real_head_is_not_measurable(real_head_ct_path, tmp_path, no_networks, capsys,
                                            spacing, name, words):
    path = _resampled(real_head_ct_path, spacing, tmp_path / (name + ".nii.gz"))
    code, stdout, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 0, err
    _assert_not_measurable(tmp_path / "out", name, words)
    assert "left   not measurable: " + words in stdout


def test_real_head_clipped_at_a_display_window_is_not_measurable(real_head_ct_path, tmp_path,
                                                                  no_networks, capsys):
    """The real head exported cut at 900 HU (a display window's top; its cortex reaches ~1700
    HU): measured, clipped at 700 HU it read NV -5.8 %, condyle +8 %: not measurable."""
    image = sitk.ReadImage(real_head_ct_path)
    clipped = sitk.Minimum(image, 900)
    path = str(tmp_path / "clipped.nii.gz")
    sitk.WriteImage(clipped, path)
    code, stdout, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 0, err
    _assert_not_measurable(tmp_path / "out", "clipped", "intensities clipped at 900 HU")
    assert "not measurable: intensities clipped at 900 HU" in stdout


def test_real_head_written_in_metres_is_refused_in_one_line(real_head_ct_path, tmp_path,
                                                             no_networks, capsys):
    """The real head with its header in metres (spacing 0.001, origin / 1000): a head 0.3 mm
    across. Before, "no head in the image (only 0 cm3 of tissue ...)"; now the units (exit 2)."""
    image = sitk.ReadImage(real_head_ct_path)
    image.SetSpacing([s / 1000.0 for s in image.GetSpacing()])
    image.SetOrigin([o / 1000.0 for o in image.GetOrigin()])
    path = str(tmp_path / "metres.nii.gz")
    sitk.WriteImage(image, path)
    code, stdout, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 2
    assert "voxels of 0.001 x 0.001 x 0.001 mm" in err and "not in mm (metres?)" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "metres").exists()


def test_label_map_written_in_metres_is_not_measurable(tmp_path, capsys):
    """A label map so written: both sides not measurable for that reason (before: "the field of
    view ends within 5 mm of the condylar head")."""
    from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom

    labels = make_analytic_phantom(seed=3, sides=("left", "right")).labels
    labels.SetSpacing([s / 1000.0 for s in labels.GetSpacing()])
    labels.SetOrigin([o / 1000.0 for o in labels.GetOrigin()])
    path = str(tmp_path / "metres.nii.gz")
    sitk.WriteImage(labels, path)
    code = cli.main(["negative-volume", path, "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    for side in L.SIDES:
        assert "the voxel sizes are not in mm (metres?)" in rep["quality"][side]["reason"]
    assert rep["left"] is None and rep["right"] is None


def _write(array, path, spacing=(1.0, 1.0, 1.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return str(path)


def _head_shape(air, tissue, bone, dtype):
    z, y, x = np.indices((90, 110, 110))
    array = np.full(z.shape, air, dtype)
    array[((x - 55) / 45.0) ** 2 + ((y - 55) / 50.0) ** 2 + ((z - 45) / 40.0) ** 2 < 1] = tissue
    array[30:60, 20:90, 10:100][:, ::8] = bone
    return array


def test_mri_like_volume_is_not_measurable(tmp_path, no_networks, capsys):
    rng = np.random.default_rng(1)
    array = _head_shape(0.0, 1500.0, 3800.0, np.float32) + rng.uniform(0, 200, (90, 110, 110))
    path = _write(array.astype(np.float32), tmp_path / "mri.nii.gz")
    code, _o, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 0, err
    _assert_not_measurable(tmp_path / "out", "mri", "no air")


def test_8bit_volume_is_not_measurable(tmp_path, no_networks, capsys):
    path = _write(_head_shape(0, 70, 240, np.uint8), tmp_path / "eight.nrrd")
    code, _o, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 0, err
    _assert_not_measurable(tmp_path / "out", "eight", "8-bit data")


def test_broken_file_still_exits_2(tmp_path, no_networks, capsys):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    code, _o, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 2 and err.strip().count("\n") == 0


def test_real_head_at_1mm_stays_measurable(real_head_ct_path, tmp_path, have_models, capsys):
    code, _o, err = _run(capsys, real_head_ct_path, "-o", tmp_path / "out")
    assert code == 0, err
    rep = json.loads((tmp_path / "out" / "vhf_head" / "report.json").read_text())
    for side in L.SIDES:
        assert rep[side]["measurable"] is True and rep[side]["negative_volume_mm3"] > 0
        assert rep["quality"][side] == {"measurable": True, "reason": None}
    assert rep["asymmetry_percent"]["negative_volume"] is not None
    assert any("in-plane pixels 1 x 1 mm" in c for c in rep["cautions"])   # 1 mm > 0.8 mm
    row = next(csv.DictReader(open(str(tmp_path / "out" / "cohort.csv"))))
    assert row["left_measurable"] == row["right_measurable"] == "yes"
    assert row["left_reason"] == "" and "in-plane pixels" in row["cautions"]


def test_head_phantom_at_clinical_spacing_stays_measurable(have_models):
    from NegativeVolumeSegmentationLib import pipeline
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    ph = make_phantom("head", seed=100010, fov="head", spacing=(0.65, 0.65, 1.25))
    rep = pipeline.run_case(ph.ct, bundled_models.load_models(device="cpu"), device="cpu").report
    for side in L.SIDES:
        assert rep["quality"][side]["measurable"] is True, rep["quality"]
        error = rep[side]["negative_volume_mm3"] / ph.truth[side]["negative_volume_mm3"] - 1.0
        assert abs(error) < 0.15, (side, error)
    assert any("slices 1.25 mm" in c for c in rep["cautions"])


def test_slicer_panel_text_says_not_measurable_and_flags_nothing():
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from NegativeVolumeSegmentationLib.scene.views import results_summary

    reason = "condyle and temporal bone touch over 128 mm2 (limit 25 mm2)"
    results = {"left": {"negative_volume_mm3": 100.0, "condyle_volume_mm3": 1500.0,
                        "joint_space_min_mm": 1.0, "joint_space_mean_mm": 2.0,
                        "measurable": True},
               "right": None,
               # an asymmetry left over from elsewhere must not be flagged against a null side
               "asymmetry_percent": {"negative_volume": 40.0, "condyle_volume": 20.0},
               "quality": {"scan": {"measurable": True, "reason": None},
                           "left": {"measurable": True, "reason": None},
                           "right": {"measurable": False, "reason": reason}},
               "cautions": ["slices 1.25 mm (over 1 mm)"], "warnings": [],
               "timings_s": {"total": 1.0}}
    summary = results_summary(results, 6.0)
    assert summary["right_nv"] == "not measurable: " + reason
    assert summary["left_nv"] == "100.0 mm³"
    assert not summary["asymmetric"] and summary["flag"] == "" and summary["asymmetry"] == "–"
    assert "Caution: slices 1.25 mm" in summary["status"]
    scan = dict(results, left=None, quality={
        "scan": {"measurable": False, "reason": "slices 5 mm (limit 2 mm)"},
        "left": {"measurable": False, "reason": "slices 5 mm (limit 2 mm)"},
        "right": {"measurable": False, "reason": "slices 5 mm (limit 2 mm)"}})
    summary = results_summary(scan, 6.0)
    assert summary["left_nv"] == summary["right_nv"] == "not measurable: slices 5 mm (limit 2 mm)"
    assert "Not measurable: slices 5 mm" in summary["status"] and not summary["asymmetric"]
