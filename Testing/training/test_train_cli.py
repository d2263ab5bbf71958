"""nvseg train / evaluate end to end on tiny analytic phantoms: loss falls, resume is exact, metrics."""

import csv
import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference.checkpoint import load_checkpoint
from NegativeVolumeSegmentationLib.cli import main
from NegativeVolumeSegmentationLib.phantom import make_phantom, write_phantom
from NegativeVolumeSegmentationLib.phantom.analytic_truth import sphere_cap_negative_volume
from NegativeVolumeSegmentationLib.io.segmentation_files import write_segmentation_nrrd
from NegativeVolumeSegmentationLib.training import data as D
from NegativeVolumeSegmentationLib.training import localizer_task as localizer
from NegativeVolumeSegmentationLib.training.augment import swap_sides
from NegativeVolumeSegmentationLib.training.config import validate_config


def _config(tmp, name, **more):
    cfg = {"name": name,
           "model": {"name": "unet3d", "hyper": {"base_channels": 4, "depth": 2}},
           "loss": {"name": "dice_ce"}, "optimizer": {"name": "adamw", "lr": 0.01},
           "schedule": {"iterations": 40, "step_size": 30, "gamma": 0.5},
           "data": {"phantom": {"kind": "analytic", "seeds": [0, 1], "cache_dir": str(tmp / "cache"),
                                "options": {"spacing": [0.8, 0.8, 0.8]}},
                    "target_spacing_mm": [1.0, 1.0, 1.0], "crop_size_mm": [28, 28, 28],
                    "crop_offset_mm": [0, 0, 0], "patch_size": [20, 20, 20], "batch_size": 2},
           "augment": {"rotation_deg": 10, "elastic": {"probability": 0.0}},
           "evaluate": {"seeds": [50]},
           "train": {"threads": 1, "checkpoint_every": 20},
           "output": {"dir": str(tmp / name)}}
    for key, value in more.items():
        cfg[key] = dict(cfg.get(key, {}), **value) if isinstance(value, dict) else value
    path = tmp / (name + ".yaml")
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _losses(run_dir):
    with open(os.path.join(run_dir, "train_log.csv")) as stream:
        rows = list(csv.DictReader(stream))
    return [int(r["iteration"]) for r in rows], [float(r["loss"]) for r in rows]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    path = _config(tmp, "tiny")
    assert main(["train", "--config", path, "--quiet"]) == 0
    return tmp, path


def test_training_lowers_the_loss_and_writes_a_self_describing_model(trained, capsys):
    tmp, _ = trained
    iterations, losses = _losses(str(tmp / "tiny"))
    assert iterations == list(range(1, 41))
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    network, meta = load_checkpoint(str(tmp / "tiny" / "model.pt"))
    assert meta["label_names"] == ["background", "mandibular condyle", "temporal bone"]
    assert meta["target_spacing_mm"] == [1.0, 1.0, 1.0]
    assert meta["intensity"]["clip_hu"] == [-1000.0, 2500.0]
    assert "analytic phantoms, seeds 0..1" in meta["training_data"]
    assert meta["extra"]["task"] == "segmentation" and meta["extra"]["iterations"] == 40
    summary = json.loads((tmp / "tiny" / "train_summary.json").read_text())
    assert summary["iterations_per_s"] > 0 and len(summary["phantom_generation_s"]) == 2
    assert os.listdir(str(tmp / "cache"))  # phantoms were cached for the next run
    capsys.readouterr()
    assert main(["train", "--config", str(tmp / "tiny.yaml"), "--prepare-only", "--quiet"]) == 0
    assert "prepared tiny" in capsys.readouterr().out  # cached: nothing generated again


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(trained, tmp_path):
    tmp, _ = trained
    path = _config(tmp, "resumed")
    assert main(["train", "--config", path, "--quiet", "--iterations", "25"]) == 0
    assert main(["train", "--config", path, "--quiet", "--resume"]) == 0
    iterations, losses = _losses(str(tmp / "resumed"))
    assert iterations == list(range(1, 41))
    _, straight = _losses(str(tmp / "tiny"))
    assert np.allclose(losses, straight, rtol=1e-4, atol=1e-5)
    a, _ = load_checkpoint(str(tmp / "tiny" / "model.pt"))
    b, _ = load_checkpoint(str(tmp / "resumed" / "model.pt"))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), name


def test_resume_after_an_interruption_a_changed_config_or_a_fresh_run(trained, capsys,
                                                                      monkeypatch):
    """Found by a review: a run interrupted after its last checkpoint (iteration 20 of a run
    stopped at 25) and resumed logged iterations 21-25 twice; a resume with another learning
    rate ran on at the old one (an optimiser changed crashed: KeyError 'momentum'); a fresh run
    into the same folder left the earlier run's training state, which a later --resume took up.
    Now the log keeps one row per iteration, a changed config is refused naming the change, and
    a fresh run starts from nothing."""
    tmp, _ = trained
    path = _config(tmp, "stopped")
    assert main(["train", "--config", path, "--quiet", "--iterations", "25"]) == 0
    state = tmp / "stopped" / "training_state.pt"
    saved = torch.load(str(state), weights_only=False)
    saved["iteration"] = 20      # as if stopped at 25 before a checkpoint after 20
    saved_network = saved["network"]
    torch.save(saved, str(state))
    assert main(["train", "--config", path, "--quiet", "--resume", "--iterations", "30"]) == 0
    iterations, _ = _losses(str(tmp / "stopped"))
    assert iterations == list(range(1, 31))
    changed = _config(tmp, "stopped", optimizer={"name": "sgd", "lr": 0.5})
    capsys.readouterr()
    assert main(["train", "--config", changed, "--quiet", "--resume", "--iterations", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert ("written by another config (optimizer.lr: 0.01 -> 0.5; optimizer.name: 'adamw' -> "
            "'sgd')") in err and len(err.splitlines()) == 1, err
    from NegativeVolumeSegmentationLib.training.trainer import Trainer

    calls = []

    def interrupted(self, inputs, targets):   # Ctrl-C at the fresh run's third step
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt()
        return original(self, inputs, targets)

    original = Trainer.step
    monkeypatch.setattr(Trainer, "step", interrupted)
    capsys.readouterr()
    assert main(["train", "--config", path, "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == (
        "nvseg: interrupted: at iteration 2 of 40; --resume goes on from the beginning "
        "(nothing saved yet)")
    assert not state.exists()   # the earlier run's state went when the fresh run began
    assert saved_network is not None


def test_worker_processes_train_on_the_same_batches_in_the_same_order(trained):
    tmp, _ = trained
    path = _config(tmp, "workers", train={"threads": 1, "checkpoint_every": 20, "workers": 2})
    assert main(["train", "--config", path, "--quiet"]) == 0
    iterations, losses = _losses(str(tmp / "workers"))
    _, straight = _losses(str(tmp / "tiny"))
    assert iterations == list(range(1, 41))
    assert np.allclose(losses, straight, rtol=1e-4, atol=1e-5)


def _cap_truth(parameters):
    """The analytic NV of a sphere joint: the shell r < |p - c| < R inside the cap's cone."""
    r = parameters["condyle_radius_mm"]
    return sphere_cap_negative_volume(r, r + parameters["joint_space_mm"],
                                      parameters["cap_half_angle_deg"])


def _nv_from_truth_masks_checked(nv, parameters):
    """The engine on the truth label map against the analytic NV: Testing/engine/
    test_shape_interpolation.py holds it to 8 % (or 4 voxels) on 0.8 mm analytic caps; and the
    fields derived from predicted vs truth-mask NV consistent with those two values."""
    truth = _cap_truth(parameters)
    assert nv["phantom_truth_mm3"] == pytest.approx(truth, rel=1e-6)
    assert abs(nv["truth_masks_mm3"] - truth) <= max(0.08 * truth, 4 * 0.8 ** 3), (nv, truth)
    p, t = nv["predicted_mm3"], nv["truth_masks_mm3"]
    if p is None:        # no NV found between the predicted bones: none of it matches
        assert nv["dice_percent"] == 0.0 and "relative_error_percent" not in nv
    else:
        assert np.isfinite(p) and p > 0
        assert nv["relative_error_percent"] == pytest.approx(100.0 * (p - t) / t)
    return truth


def test_evaluate_prints_and_writes_metrics_against_the_phantom_truth(trained, capsys):
    tmp, path = trained
    capsys.readouterr()
    assert main(["evaluate", "--config", path, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Dice %" in out and "HD95 mm" in out and "condyle" in out and "negative volume" in out
    result = json.loads((tmp / "tiny" / "evaluation.json").read_text())
    parameters = make_phantom("analytic", 50, spacing=(0.8, 0.8, 0.8)).truth["parameters"]
    joints = {j["side"]: j for j in result["per_case"]}
    assert set(joints) == set(L.SIDES)
    for side, joint in joints.items():
        r = parameters[side]["condyle_radius_mm"]
        mc = joint["condyle"]
        assert mc["truth_fraction_in_box"] == 1.0
        assert mc["truth_volume_mm3"] == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.08)
        assert 50.0 < mc["dice_percent"] < 100.0 and np.isfinite(mc["hd95_mm"])
        assert mc["hd_mm"] >= mc["hd95_mm"] >= 0 and 0 < mc["cross_entropy"] < 1.0
        nv = joint["negative_volume"]
        _nv_from_truth_masks_checked(nv, parameters[side])
        # the 40-iteration network's bones are not the truth's: neither is the NV between them
        assert nv["dice_percent"] < 100.0 and nv["predicted_mm3"] != nv["truth_masks_mm3"]
    both = result["summary"]["condyle"]["both"]["dice_percent"]
    dice = [joints[s]["condyle"]["dice_percent"] for s in L.SIDES]
    assert both["mean"] == pytest.approx(np.mean(dice)) and both["n"] == 2


class _BoneSplit(torch.nn.Module):
    """A stand-in segmentation network for the analytic phantom's crops (centred on the true
    condyle centre): bone (above 620 HU, midway between its 40 and 1200 HU) connected to the
    crop's centre is condyle, other bone temporal bone: the bones to within its 1 mm voxels."""

    def __init__(self, intensity):
        super().__init__()
        self.intensity = intensity

    def forward(self, x):
        from scipy import ndimage

        hu = x[0, 0].numpy() * self.intensity["scale_hu"] + self.intensity["center_hu"]
        bone = hu > 620.0
        parts, _ = ndimage.label(bone)
        condyle = parts == parts[tuple(n // 2 for n in bone.shape)]
        classes = np.stack([~bone, bone & condyle, bone & ~condyle]).astype(np.float32)
        return torch.from_numpy(20.0 * classes)[None]


def test_evaluate_measures_the_nv_of_the_predicted_bones(trained, capsys, monkeypatch):
    """The NV of the predicted label map (a stand-in network that finds both bones to a voxel)
    against the analytic NV: close to it, and not the truth masks' own NV."""
    from NegativeVolumeSegmentationLib.training import evaluate as E

    tmp, path = trained
    _, meta = load_checkpoint(str(tmp / "tiny" / "model.pt"))
    monkeypatch.setattr(E, "load_checkpoint",
                        lambda *a, **k: (_BoneSplit(meta["intensity"]), meta))
    assert main(["evaluate", "--config", path, "--quiet"]) == 0
    capsys.readouterr()
    result = json.loads((tmp / "tiny" / "evaluation.json").read_text())
    parameters = make_phantom("analytic", 50, spacing=(0.8, 0.8, 0.8)).truth["parameters"]
    for joint in result["per_case"]:
        assert joint["condyle"]["dice_percent"] > 85.0
        assert joint["temporal_bone"]["dice_percent"] > 60.0
        nv = joint["negative_volume"]
        truth = _nv_from_truth_masks_checked(nv, parameters[joint["side"]])
        # measured +2.6 % left, +12.2 % right (r 5.4 mm, a 1.9 mm gap: 2 of the crop's voxels)
        assert nv["predicted_mm3"] == pytest.approx(truth, rel=0.15), (joint["side"], nv, truth)
        assert 50.0 < nv["dice_percent"] < 100.0
        assert nv["predicted_mm3"] != nv["truth_masks_mm3"]


def test_localizer_trains_through_the_same_cli_and_evaluates(tmp_path):
    path = _config(tmp_path, "loc", task="localizer",
                   data={"target_spacing_mm": [3.0, 3.0, 3.0], "patch_size": [48, 16, 16],
                         "ball_radius_mm": 6.0, "centre_jitter_mm": 3.0},
                   augment={"flip": 0.5}, schedule={"iterations": 12})
    assert main(["train", "--config", path, "--quiet"]) == 0
    _, meta = load_checkpoint(str(tmp_path / "loc" / "model.pt"))
    assert meta["label_names"] == ["background", "temporomandibular joint"]
    assert meta["extra"]["crop"]["ball_radius_mm"] == 6.0
    assert main(["evaluate", "--config", path, "--quiet"]) == 0
    result = json.loads((tmp_path / "loc" / "evaluation.json").read_text())
    case = result["per_case"][0]
    assert case["true_joints"] == 2 and set(L.SIDES) <= set(case)


def test_detect_joints_tells_sides_by_physical_x_not_array_order():
    reference = sitk.Image([40, 30, 30], sitk.sitkFloat32)
    reference.SetSpacing((3.0, 3.0, 3.0))
    reference.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))  # array x runs towards the patient's right
    reference.SetOrigin((60.0, -45.0, -45.0))
    left, right = np.array([45.0, 0.0, 3.0]), np.array([-50.0, 6.0, -3.0])
    target = sitk.GetArrayFromImage(localizer.ball_target(reference, [left, right], 9.0))
    assert target.sum() * 27 == pytest.approx(2 * 4 / 3 * np.pi * 9 ** 3, rel=0.15)
    found = localizer.detect_joints(target.astype(float), reference)
    sides = {f["side"]: np.array(f["centre_lps_mm"]) for f in found}
    assert np.linalg.norm(sides[L.LEFT] - left) < 1.0
    assert np.linalg.norm(sides[L.RIGHT] - right) < 1.0


def test_folder_of_user_cases_with_seg_nrrd_and_swapped_sides(tmp_path):
    folder = tmp_path / "cases"
    phantom = make_phantom("analytic", 3, spacing=(0.8, 0.8, 0.8))
    write_phantom(phantom, str(folder / "case_a"))  # ct.nii.gz + labels.nii.gz
    sitk.WriteImage(phantom.ct, str(folder / "b.nii.gz"))
    swapped = sitk.GetImageFromArray(swap_sides(sitk.GetArrayFromImage(phantom.labels)))
    swapped.CopyInformation(phantom.labels)
    write_segmentation_nrrd(swapped, str(folder / "b.seg.nrrd"))  # left/right labels exchanged
    found = D.find_labelled_cases(str(folder))
    assert [f[0] for f in found] == ["case_a", "b"]
    notes = []
    for name, ct, labels in found:
        case = D.read_labelled_case(name, ct, labels, notes)
        for side in L.SIDES:
            truth = np.array(phantom.truth[side]["condyle_center_lps_mm"])
            assert np.linalg.norm(case.centres[side] - truth) < 0.3
    swaps = [n for n in notes if "swapped" in n]  # (read_ct also notes this CT has no air)
    assert len(swaps) == 1 and swaps[0].startswith("b: ")
    cfg = validate_config(yaml.safe_load(open(_config(tmp_path, "f", data={
        "source": "folder", "folder": str(folder)}))))
    stream = D.TrainingStream(cfg)
    assert len(stream.items) == 4 and "folder" in stream.describe()
    x, y = stream.batch(0)
    assert x.shape == (2, 1, 20, 20, 20) and y.shape == (2, 20, 20, 20)


def test_user_cases_that_would_train_on_wrong_labels_are_refused(tmp_path):
    """Found by a review: a label map whose header places it elsewhere than its CT (origin moved
    12 mm, spacing 1.0 mm against the CT's 0.8, x flipped) was resampled onto the CT without a
    word, and the network trained on patches whose condyle class lay over soft tissue or air
    (median HU 44 / 151 / -1000 against 1094); a case without temporal bones trained their class
    as background. Both are refused in one line; a label map on another grid inside the CT
    (a finer copy) is resampled with a note. Misspelt analytic phantom options are refused too
    (the phantoms were made at the defaults)."""
    from NegativeVolumeSegmentationLib.errors import InputError

    phantom = make_phantom("analytic", 3, spacing=(0.8, 0.8, 0.8))
    ct_path = str(tmp_path / "ct.nii.gz")
    sitk.WriteImage(phantom.ct, ct_path)
    for name, change in (("shifted", lambda im: im.SetOrigin(
            [o + d for o, d in zip(im.GetOrigin(), (12.0, 0.0, 0.0))])),
            ("spacing", lambda im: im.SetSpacing((1.0, 1.0, 1.0))),
            ("flipped", lambda im: im.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1)))):
        labels = sitk.Image(phantom.labels)
        change(labels)
        path = str(tmp_path / (name + ".nii.gz"))
        sitk.WriteImage(labels, path)
        with pytest.raises(InputError, match="reaches outside the CT"):
            D.read_labelled_case(name, ct_path, path, [])
    finer = sitk.Resample(phantom.labels, [int(n * 2) - 1 for n in phantom.labels.GetSize()],
                          sitk.Transform(), sitk.sitkNearestNeighbor, phantom.labels.GetOrigin(),
                          [0.4] * 3, phantom.labels.GetDirection(), 0, sitk.sitkUInt8)
    sitk.WriteImage(finer, str(tmp_path / "finer.nii.gz"))
    notes = []
    case = D.read_labelled_case("finer", ct_path, str(tmp_path / "finer.nii.gz"), notes)
    assert any("resampled onto the CT's" in n for n in notes), notes
    assert case.labels.GetSize() == phantom.ct.GetSize()
    array = sitk.GetArrayFromImage(phantom.labels)
    array[(array == 3) | (array == 4)] = 0
    no_tb = sitk.GetImageFromArray(array)
    no_tb.CopyInformation(phantom.labels)
    sitk.WriteImage(no_tb, str(tmp_path / "no_tb.nii.gz"))
    case = D.read_labelled_case("no_tb", ct_path, str(tmp_path / "no_tb.nii.gz"), [])
    cfg = validate_config(yaml.safe_load(open(_config(tmp_path, "g"))))
    with pytest.raises(InputError, match="case no_tb: the left joint has no temporal bone "
                                         r"labelled \(values 3\)"):
        D.joint_sources(case, cfg)
    with pytest.raises(InputError, match="unknown analytic phantom option.*spacng"):
        make_phantom("analytic", 3, spacng=(0.8, 0.8, 0.8))


def _children(pid):
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads worker processes from /proc")
def test_ctrl_c_with_worker_processes_ends_in_one_line(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) while workers make the batches: the
    trainer says where it stopped, in one line, and ends. Before, a worker stopped mid-task by
    the same signal printed its traceback, and 1 of 5 runs (2 of 5 in a review) waited for ever
    in the pool's terminate() until a second Ctrl-C: the workers now leave Ctrl-C to the
    trainer. Three interruptions, each once the workers run; 120 s guards against a hang."""
    import signal
    import subprocess
    import sys
    import time

    path = _config(tmp_path, "ctrl_c", schedule={"iterations": 100000},
                   train={"threads": 1, "checkpoint_every": 1000, "workers": 2})
    for attempt in range(3):
        child = subprocess.Popen([sys.executable, "-m", "NegativeVolumeSegmentationLib.cli",
                                  "train", "--config", path, "--quiet"],
                                 stderr=subprocess.PIPE, universal_newlines=True,
                                 start_new_session=True)
        while len(_children(child.pid)) < 2 and child.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0 + attempt)       # into the training loop, batches in flight
        os.killpg(child.pid, signal.SIGINT)
        try:
            _, err = child.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            pytest.fail("Ctrl-C with worker processes: still running after 120 s")
        lines = err.strip().splitlines()
        assert child.returncode == 130, err
        assert len(lines) == 1 and lines[0].startswith("nvseg: interrupted: at iteration"), err
