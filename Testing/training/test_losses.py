"""Losses on hand-built cases: perfect predictions, analytic Dice/CE values, huge logits, empty classes."""

import math

import numpy as np
import pytest
import torch

from NegativeVolumeSegmentationLib.training import losses

torch.set_num_threads(1)


def logits_for(probs):
    """Logits whose softmax over axis 1 is ``probs`` (log p; any per-voxel constant would do)."""
    return torch.log(torch.as_tensor(probs, dtype=torch.float64))


def two_class_case(n1=6, n0=10, a=0.8, b=0.3):
    """1 x 2 x 1 x 1 x 16: class 1 on n1 voxels predicted with p1 = a, background with p1 = b."""
    target = torch.zeros(1, 1, 1, n0 + n1, dtype=torch.long)
    target[..., :n1] = 1
    p1 = torch.full((1, 1, 1, n0 + n1), b, dtype=torch.float64)
    p1[..., :n1] = a
    probs = torch.stack([1 - p1, p1], dim=1)
    return logits_for(probs), target


def test_perfect_prediction_gives_zero_losses():
    target = torch.randint(0, 3, (2, 5, 6, 7))
    logits = 30.0 * torch.nn.functional.one_hot(target, 3).movedim(-1, 1).float()
    assert float(losses.soft_dice_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.soft_dice_loss(logits, target, include_background=True)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.cross_entropy_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.dice_ce_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)


def test_dice_matches_analytic_vnet_form():
    n1, n0, a, b = 6, 10, 0.8, 0.3
    logits, target = two_class_case(n1, n0, a, b)
    d1 = 2 * n1 * a / (n1 * a * a + n0 * b * b + n1)
    d0 = 2 * n0 * (1 - b) / (n0 * (1 - b) ** 2 + n1 * (1 - a) ** 2 + n0)
    got = losses.soft_dice_loss(logits, target, smooth=0.0)
    assert float(got) == pytest.approx(1 - d1, rel=1e-6)
    got = losses.soft_dice_loss(logits, target, include_background=True, smooth=0.0)
    assert float(got) == pytest.approx(1 - (d0 + d1) / 2, rel=1e-6)
    got = losses.soft_dice_loss(logits, target, include_background=True, smooth=0.0,
                                class_weights=[1.0, 3.0])
    assert float(got) == pytest.approx(1 - (d0 + 3 * d1) / 4, rel=1e-6)


def test_cross_entropy_equals_hand_computation():
    n1, n0, a, b = 6, 10, 0.8, 0.3
    logits, target = two_class_case(n1, n0, a, b)
    expected = -(n1 * math.log(a) + n0 * math.log(1 - b)) / (n0 + n1)
    assert float(losses.cross_entropy_loss(logits, target)) == pytest.approx(expected, rel=1e-6)
    # class weights: PyTorch's weighted mean sum w_y (-log p_y) / sum w_y
    w = [0.5, 2.0]
    expected_w = -(2.0 * n1 * math.log(a) + 0.5 * n0 * math.log(1 - b)) / (2.0 * n1 + 0.5 * n0)
    assert float(losses.cross_entropy_loss(logits, target, class_weights=w)) == pytest.approx(expected_w, rel=1e-6)
    # three classes, raw logits (not log-probabilities), softmax by hand
    raw = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])  # 2 voxels x 3 classes
    labels = torch.tensor([2, 1])
    by_hand = 0.0
    for row, y in zip(raw.tolist(), labels.tolist()):
        by_hand -= row[y] - math.log(sum(math.exp(v) for v in row))
    by_hand /= 2
    got = losses.cross_entropy_loss(raw.t().reshape(1, 3, 2, 1, 1), labels.reshape(1, 2, 1, 1))
    assert float(got) == pytest.approx(by_hand, rel=1e-6)


def test_dice_ce_is_dice_plus_weighted_ce():
    logits, target = two_class_case()
    dice = float(losses.soft_dice_loss(logits, target))
    ce = float(losses.cross_entropy_loss(logits, target))
    assert float(losses.dice_ce_loss(logits, target, ce_weight=0.5)) == pytest.approx(dice + 0.5 * ce)
    loss = losses.SegmentationLoss("dice_ce", ce_weight=0.5)
    assert float(loss(logits, target)) == pytest.approx(dice + 0.5 * ce)
    assert loss.config() == {"name": "dice_ce", "options": {"ce_weight": 0.5}}


def test_huge_logits_are_stable():
    target = torch.tensor([0, 1, 1, 0]).reshape(1, 4, 1, 1)
    right = torch.full((1, 2, 4, 1, 1), -1e4)
    right[0, 0, [0, 3]] = 1e4
    right[0, 1, [1, 2]] = 1e4
    wrong = -right
    for logits in (right, wrong):
        leaf = logits.clone().requires_grad_(True)
        total = losses.dice_ce_loss(leaf, target, include_background=True)
        total.backward()
        assert torch.isfinite(total) and torch.isfinite(leaf.grad).all()
    assert float(losses.cross_entropy_loss(right, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.cross_entropy_loss(wrong, target)) == pytest.approx(2e4, rel=1e-6)
    # Dice of 0 up to the smoothing term s / (sum g^2 + s)
    assert float(losses.soft_dice_loss(wrong, target, include_background=True)) == pytest.approx(1.0, abs=1e-5)


def test_empty_classes_are_left_out_or_smoothed():
    logits = torch.randn(2, 3, 4, 5, 6)
    target = torch.zeros(2, 4, 5, 6, dtype=torch.long)
    target[0, :2] = 1  # class 1 only in sample 0; class 2 nowhere
    dice, present = losses.dice_per_class(logits, target, smooth=0.0)
    expected = 1 - float(dice[0, 1])  # the only non-empty foreground term
    assert float(losses.soft_dice_loss(logits, target, smooth=0.0)) == pytest.approx(expected, rel=1e-6)
    assert present.tolist() == [[True, True, False], [True, False, False]]
    # nothing but background in the target: zero Dice loss, still differentiable
    background = torch.zeros_like(target)
    logits.requires_grad_(True)
    loss = losses.soft_dice_loss(logits, background)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(logits.grad).all()
    # counted with smoothing: a confident empty-class prediction costs ~1, a near-zero one ~0
    quiet = torch.zeros(1, 2, 2, 2, 2)
    quiet[:, 0] = 40.0
    assert float(losses.soft_dice_loss(quiet, torch.zeros(1, 2, 2, 2, dtype=torch.long),
                                       ignore_empty=False, smooth=1.0)) == pytest.approx(0.0, abs=1e-6)
    loud = -quiet
    assert float(losses.soft_dice_loss(loud, torch.zeros(1, 2, 2, 2, dtype=torch.long),
                                       ignore_empty=False, smooth=1e-5)) == pytest.approx(1.0, abs=1e-5)


def test_batch_dice_pools_samples():
    """batch_dice: one Dice per class from sums over the whole batch (nnU-Net's pooled form),
    not the mean of each sample's Dice; two different samples, the pooled Dice by hand."""
    cases = [(6, 10, 0.8, 0.3), (2, 14, 0.4, 0.05)]   # (n1, n0, a, b) as in two_class_case
    pairs = [two_class_case(*c) for c in cases]
    logits = torch.cat([p[0] for p in pairs])
    target = torch.cat([p[1] for p in pairs])
    # class 1: sum p g = n1 a, sum p^2 = n1 a^2 + n0 b^2, sum g = n1, each summed over both samples
    inter = sum(n1 * a for n1, n0, a, b in cases)
    squares = sum(n1 * a * a + n0 * b * b for n1, n0, a, b in cases)
    ones = sum(n1 for n1, n0, a, b in cases)
    pooled = 2 * inter / (squares + ones)
    each = [2 * n1 * a / (n1 * a * a + n0 * b * b + n1) for n1, n0, a, b in cases]
    assert abs(pooled - np.mean(each)) > 0.05        # the two forms differ on this batch
    got = losses.soft_dice_loss(logits, target, batch_dice=True, smooth=0.0)
    assert float(got) == pytest.approx(1 - pooled, rel=1e-6)
    assert float(losses.soft_dice_loss(logits, target, smooth=0.0)) == pytest.approx(
        1 - np.mean(each), rel=1e-6)


def test_bad_targets_raise():
    logits = torch.zeros(1, 3, 2, 2, 2)
    with pytest.raises(ValueError):
        losses.soft_dice_loss(logits, torch.full((1, 2, 2, 2), 3))
    with pytest.raises(ValueError):
        losses.cross_entropy_loss(logits, torch.zeros(1, 2, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError):
        losses.cross_entropy_loss(logits, torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError):
        losses.SegmentationLoss("focal")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_losses_on_cuda_match_cpu():
    logits, target = two_class_case()
    cpu = float(losses.dice_ce_loss(logits, target, class_weights=[0.5, 2.0]))
    gpu = float(losses.dice_ce_loss(logits.cuda(), target.cuda(), class_weights=[0.5, 2.0]))
    assert gpu == pytest.approx(cpu, rel=1e-5)
