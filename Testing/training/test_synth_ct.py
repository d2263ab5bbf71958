"""Domain-randomised training images: rendering from real shapes, tissue curve, bias field, fine-tuning.

Truths: analytic label maps (a ball of bone with a known shell), physics (air has no attenuation, so
a multiplicative field on HU + 1000 leaves it at -1000 HU), and the real-anatomy label map of
../shared (MC is mandible, TB is skull, the left joint at larger LPS x).
"""

import os

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.training import augment as A
from NegativeVolumeSegmentationLib.training import data as D
from NegativeVolumeSegmentationLib.training import real_shapes as R
from NegativeVolumeSegmentationLib.training import synth_ct as S
from NegativeVolumeSegmentationLib.training.config import validate_config
from NegativeVolumeSegmentationLib.errors import InputError

pytest.importorskip("torchio", reason="TorchIO (the training extra) is not installed")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DENTAL = os.path.join(REPO, "..", "shared", "data", "real", "dental_cbct_labels.nii.gz")
SPACING = (0.5, 0.5, 0.5)


def _bone_ball(radius_mm=10.0, n=64):
    """A mandible-valued ball (radius in mm) in soft tissue on a 0.5 mm grid, and each voxel's
    depth below the ball's surface (mm, analytic)."""
    c = (n - 1) / 2.0
    z, y, x = np.indices((n, n, n)).astype(float)
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) * SPACING[0]
    return np.where(r <= radius_mm, R.MANDIBLE, 0).astype(np.uint8), radius_mm - r


def test_render_draws_bone_brighter_than_soft_tissue_with_a_cortical_shell():
    tissues, depth = _bone_ball()
    for seed in range(6):
        hu = S.render(tissues, np.random.default_rng(seed), SPACING)
        assert hu.dtype == np.float32 and hu.shape == tissues.shape
        soft = hu[depth < -4.0]
        shell = hu[(depth > 0.8) & (depth < 1.2) & (depth < 0.5 * S.CORTEX_MM[1])]
        core = hu[depth > 5.0]
        assert S.SOFT_TISSUE_HU[0] - 40 < np.median(soft) < S.SOFT_TISSUE_HU[1] + 40
        assert np.median(core) > np.median(soft) + 50          # trabecular bone above soft tissue
        assert np.median(shell) > np.median(soft) + 300        # the cortex is dense bone


def test_render_is_seeded_and_varies_between_samples():
    tissues, _ = _bone_ball()
    a = S.render(tissues, np.random.default_rng(3), SPACING)
    b = S.render(tissues, np.random.default_rng(3), SPACING)
    c = S.render(tissues, np.random.default_rng(4), SPACING)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 10.0
    state = torch.get_rng_state()
    S.thick_slices(a, np.random.default_rng(0), SPACING)
    assert torch.equal(state, torch.get_rng_state())      # torch's generator left as it was


def test_thick_slices_blur_along_z_only():
    hu = np.zeros((48, 48, 48), np.float32)
    hu[:, :, 24:] = 1000.0      # an edge across x (sharp, must stay sharp)
    hu[24:, :, :] += 1000.0     # an edge across z (must spread over the thicker slices)
    out = S.thick_slices(hu, np.random.default_rng(1), SPACING)
    across_x = out[10, 20, 20:28]
    across_z = out[20:28, 20, 10]
    assert np.abs(np.diff(across_x)).max() > 900           # still one step in x
    assert (np.abs(np.diff(across_z)) > 50).sum() >= 2     # spread over >= 2 voxels in z


def test_tissue_curve_is_increasing_keeps_air_and_moves_tissues_within_the_jitter():
    hu = np.linspace(-1000, 3000, 4001).astype(np.float32)
    for seed in range(5):
        out = A.tissue_curve(hu, np.random.default_rng(seed), 150.0)
        assert np.all(np.diff(out) >= 0)
        assert out[0] == -1000.0 and out[-1] == 3000.0
        at = np.interp(A.TISSUE_KNOTS_HU[1:-1], hu, out)
        assert np.all(np.abs(at - np.asarray(A.TISSUE_KNOTS_HU[1:-1])) <= 150.0 + 1e-3)


def test_attenuation_bias_leaves_air_and_is_smooth():
    hu = np.full((32, 32, 32), 40.0, np.float32)
    hu[:, :, :4] = -1000.0
    state = torch.get_rng_state()
    out = A.attenuation_bias(hu, np.random.default_rng(2), 0.05)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_allclose(out[:, :, :4], -1000.0, atol=1e-3)   # no attenuation, no bias
    soft = out[:, :, 4:]
    assert soft.std() > 1.0                                    # the field does something
    for axis in range(3):                                      # and is smooth (low order)
        assert np.abs(np.diff(soft, axis=axis)).max() < 0.02 * 1040
    assert 0.6 < (soft + 1000).min() / 1040 and (soft + 1000).max() / 1040 < 1.7
    np.testing.assert_array_equal(out, A.attenuation_bias(hu, np.random.default_rng(2), 0.05))


def _config(tmp_path, **data):
    raw = {"model": {"name": "vnet", "hyper": {"base_channels": 2, "depth": 2}},
           "schedule": {"iterations": 1}, "output": {"dir": str(tmp_path)}, "data": data}
    return raw


def test_config_refuses_missing_real_shapes_and_init(tmp_path):
    raw = _config(tmp_path, real_shapes={"path": str(tmp_path / "none.nii.gz"), "probability": 0.3})
    with pytest.raises(InputError, match="data.real_shapes.path"):
        validate_config(raw)
    raw = _config(tmp_path)
    raw["train"] = {"init": str(tmp_path / "none.pt")}
    with pytest.raises(InputError, match="train.init"):
        validate_config(raw)


def _dental():
    if not os.path.exists(DENTAL):
        pytest.skip("real anatomy label map not found at %s (the ../shared folder is absent)" % DENTAL)
    return sitk.ReadImage(DENTAL)


def test_real_shapes_labels_lie_on_their_bones_and_sides_follow_geometry():
    tissues, labels, tops = R.tissues_and_labels(_dental())
    assert tissues.GetSize() == labels.GetSize()
    assert np.allclose(tissues.GetOrigin(), labels.GetOrigin())
    t = sitk.GetArrayViewFromImage(tissues)
    lab = sitk.GetArrayViewFromImage(labels)
    voxel = float(np.prod(labels.GetSpacing()))
    for side in L.SIDES:
        mc, tb = lab == L.CONDYLE[side], lab == L.TEMPORAL_BONE[side]
        assert np.mean(t[mc] == R.MANDIBLE) > 0.95           # holes filled: the rest
        assert not np.any(t[mc] == R.SKULL)
        assert np.all(t[tb] == R.SKULL)
        assert 1000.0 < mc.sum() * voxel < 6000.0            # an adult condyle and neck, mm³
    assert tops["left"][0] > tops["right"][0] + 60.0         # left = larger LPS x, ~80-100 mm apart


def test_stream_mixes_rendered_real_joints_with_their_labels(tmp_path):
    _dental()
    raw = _config(tmp_path, source="folder", folder=str(tmp_path),
                  real_shapes={"path": DENTAL, "probability": 1.0})
    cfg = validate_config(raw)
    shapes = D.real_shape_sources(DENTAL, cfg)
    assert sorted(s.side for s in shapes) == ["left", "right"]
    for k, source in enumerate(shapes):
        x, y = D.segmentation_sample(source, np.random.default_rng([0, k]), cfg)
        assert x.shape == y.shape == tuple(cfg["data"]["patch_size"][::-1])
        hu = x * cfg["data"]["intensity"]["scale_hu"] + cfg["data"]["intensity"]["center_hu"]
        mc, tb, bg = (y == 1), (y == 2), (y == 0)
        assert mc.sum() > 1000 and tb.sum() > 1000
        # the rendered image shows the labelled bones: both brighter than what is not bone
        assert np.median(hu[mc]) > np.median(hu[bg]) + 50
        assert np.median(hu[tb]) > np.median(hu[bg]) + 50


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    from NegativeVolumeSegmentationLib.inference.checkpoint import save_checkpoint
    from NegativeVolumeSegmentationLib.networks import build_network
    from NegativeVolumeSegmentationLib.training.trainer import Trainer, model_metadata

    raw = _config(tmp_path)
    cfg = validate_config(raw)
    net = build_network("vnet", cfg["model"]["hyper"])
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)
    path = str(tmp_path / "start.pt")
    save_checkpoint(path, net, model_metadata(cfg, "test"))
    raw["train"] = {"init": path}
    trainer = Trainer(validate_config(raw), progress=False)
    for key, value in net.state_dict().items():
        assert torch.equal(trainer.network.state_dict()[key], value), key
    raw["model"]["hyper"]["base_channels"] = 4
    with pytest.raises(InputError, match="train.init"):
        Trainer(validate_config(raw), progress=False)


def test_localiser_heads_from_real_shapes_carry_balls_at_both_condyles(tmp_path):
    from NegativeVolumeSegmentationLib.training import localizer_task as LT

    _dental()
    raw = {"task": "localizer", "model": {"name": "vnet", "hyper": {"base_channels": 2, "depth": 2}},
           "schedule": {"iterations": 1}, "output": {"dir": str(tmp_path)},
           "data": {"target_spacing_mm": [3.0, 3.0, 3.0], "patch_size": [64, 80, 48],
                    "real_shapes": {"path": DENTAL, "probability": 0.3}}}
    cfg = validate_config(raw)
    (head,) = LT.real_shape_sources(DENTAL, cfg, renders=1)
    _, _, tops = R.tissues_and_labels(_dental())
    hu = sitk.GetArrayViewFromImage(head.ct)
    assert hu.min() == -1000.0 and np.median(hu[hu > -500]) < 300       # air around a head of tissue
    target = sitk.GetArrayViewFromImage(head.target)
    assert len(head.centres) == 2
    # the balls sit on the two condyles: each centre within 10 mm below the condyle top it names
    for centre in head.centres:
        top = min(tops.values(), key=lambda t: abs(t[0] - centre[0]))
        assert abs(centre[0] - top[0]) < 6 and abs(centre[1] - top[1]) < 8 and 0 < top[2] - centre[2] < 12
        inside = head.target.TransformPhysicalPointToIndex(tuple(centre))
        assert target[inside[::-1]] == 1
    x, y = LT.sample(head, np.random.default_rng(0), cfg)
    assert x.shape == y.shape == (48, 80, 64) and y.sum() > 0


def test_config_without_torchio_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torchio" else real(name, *a))
    raw = _config(tmp_path)
    raw["augment"] = {"intensity": {"bias": 0.05}}
    with pytest.raises(InputError, match=r"augment.intensity.bias: needs TorchIO.*\.\[train\]"):
        validate_config(raw)
