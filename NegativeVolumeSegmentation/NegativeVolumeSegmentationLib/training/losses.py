"""Training losses for multi-class 3D segmentation, computed from logits (PyTorch, CPU or CUDA).

Shapes: ``logits`` N x C x D x H x W (any float dtype; computed in float32), ``target`` integer
class indices N x D x H x W or N x 1 x D x H x W with values in 0..C-1.

- Soft Dice, V-Net form (Milletari 2016), per class c:
      D_c = (2 sum_i p_ic g_ic + s) / (sum_i p_ic^2 + sum_i g_ic^2 + s)
  p = softmax(logits) over the class axis, g = one-hot target, s = ``smooth``; the sums run over
  the voxels of one sample (or over the whole batch with ``batch_dice=True``). The loss is
  1 - (weighted mean of D_c over the classes and samples kept). Background (class 0) is excluded
  unless ``include_background``. Empty classes: a (sample, class) term whose target is empty is
  left out of the mean when ``ignore_empty`` (default; false positives of that class are then
  punished only by the cross-entropy and, if included, the background Dice); when no term is
  left the Dice loss is 0. With ``ignore_empty=False`` such a term counts with its smoothed
  value s / (sum p^2 + s).
- Cross-entropy: mean over voxels of -log softmax(logits)[target], from log_softmax (stable for
  logits of any magnitude). With class weights w it is PyTorch's weighted mean
  sum_i w_{y_i} (-log p_{i y_i}) / sum_i w_{y_i}.
- Dice + w * CE (the paper's best V-Net loss used w = 1).
"""

import torch
from torch import nn
from torch.nn import functional as F

LOSSES = ("dice", "ce", "dice_ce")


def _check(logits, target):
    """Target as N x D x H x W int64, after checking shapes and class range."""
    if logits.dim() < 3:
        raise ValueError("logits must be N x C x spatial..., got shape %s" % (tuple(logits.shape),))
    if target.dim() == logits.dim():
        if target.shape[1] != 1:
            raise ValueError("target with a channel axis must have one channel, got shape %s"
                             % (tuple(target.shape),))
        target = target[:, 0]
    if tuple(target.shape) != (logits.shape[0],) + tuple(logits.shape[2:]):
        raise ValueError("target shape %s does not match logits shape %s"
                         % (tuple(target.shape), tuple(logits.shape)))
    if target.dtype.is_floating_point:
        raise ValueError("target must hold integer class indices, got %s" % target.dtype)
    target = target.long()
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
        raise ValueError("target values must lie in 0..%d" % (logits.shape[1] - 1))
    return target


def _weights(class_weights, channels, device):
    if class_weights is None:
        return None
    weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device).flatten()
    if weights.numel() != channels or bool((weights < 0).any()):
        raise ValueError("class_weights must be %d non-negative numbers" % channels)
    return weights


def dice_per_class(logits, target, smooth=1e-5, batch_dice=False):
    """Soft Dice D_c (V-Net form) and a mask of non-empty targets; both N x C (or 1 x C if batch_dice)."""
    target = _check(logits, target)
    channels = logits.shape[1]
    probs = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target, channels).movedim(-1, 1).float()
    axes = tuple(range(2, logits.dim()))
    if batch_dice:
        axes = (0,) + axes
    intersection = (probs * onehot).sum(axes)
    denominator = (probs * probs).sum(axes) + onehot.sum(axes)  # g^2 = g for a one-hot target
    dice = (2 * intersection + smooth) / (denominator + smooth).clamp_min(1e-12)
    present = onehot.sum(axes) > 0
    if batch_dice:
        dice, present = dice[None], present[None]
    return dice, present


def soft_dice_loss(logits, target, include_background=False, class_weights=None, smooth=1e-5,
                   batch_dice=False, ignore_empty=True):
    """1 - weighted mean soft Dice over classes and samples (see the module docstring)."""
    dice, present = dice_per_class(logits, target, smooth, batch_dice)
    channels = logits.shape[1]
    weights = _weights(class_weights, channels, dice.device)
    if weights is None:
        weights = torch.ones(channels, device=dice.device)
    keep = torch.ones_like(present) if not ignore_empty else present
    if not include_background:
        keep = keep.clone()
        keep[:, 0] = False
    w = weights[None, :] * keep.float()
    if float(w.sum()) == 0.0:
        return dice.sum() * 0.0  # nothing to score: zero, still attached to the graph
    return 1.0 - (w * dice).sum() / w.sum()


def cross_entropy_loss(logits, target, class_weights=None):
    """Mean (or class-weighted mean) cross-entropy from logits, via log_softmax."""
    target = _check(logits, target)
    weights = _weights(class_weights, logits.shape[1], logits.device)
    return F.cross_entropy(logits.float(), target, weight=weights)


def dice_ce_loss(logits, target, ce_weight=1.0, include_background=False, class_weights=None,
                 smooth=1e-5, batch_dice=False, ignore_empty=True):
    """Soft Dice loss + ``ce_weight`` x cross-entropy."""
    dice = soft_dice_loss(logits, target, include_background, class_weights, smooth, batch_dice,
                          ignore_empty)
    return dice + ce_weight * cross_entropy_loss(logits, target, class_weights)


class SegmentationLoss(nn.Module):
    """A loss chosen by name ("dice", "ce", "dice_ce") with its options, as an nn.Module.

    ``SegmentationLoss("dice_ce", ce_weight=1.0, class_weights=[0.1, 1, 1])(logits, target)``.
    ``config()`` returns the name and options (for checkpoints).
    """

    def __init__(self, name="dice_ce", **options):
        super().__init__()
        if name not in LOSSES:
            raise ValueError("unknown loss %r; choose one of %s" % (name, ", ".join(LOSSES)))
        allowed = {"dice": {"include_background", "class_weights", "smooth", "batch_dice",
                            "ignore_empty"},
                   "ce": {"class_weights"}}
        allowed["dice_ce"] = allowed["dice"] | {"ce_weight"}
        unknown = sorted(set(options) - allowed[name])
        if unknown:
            raise ValueError("loss %s does not take %s" % (name, ", ".join(unknown)))
        self.name, self.options = name, dict(options)

    def forward(self, logits, target):
        function = {"dice": soft_dice_loss, "ce": cross_entropy_loss, "dice_ce": dice_ce_loss}
        return function[self.name](logits, target, **self.options)

    def config(self):
        return {"name": self.name, "options": dict(self.options)}
