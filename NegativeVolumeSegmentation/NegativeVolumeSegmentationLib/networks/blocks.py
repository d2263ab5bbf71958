"""Layers shared by the segmentation networks: normalisation, convolution blocks, size padding.

All tensors are N x C x D x H x W (batch, channels, then the three array axes of the volume).
The networks know nothing of physical space: the caller resamples the CT to the network's target
spacing first, and the array axes keep whatever order the caller used (z, y, x for SimpleITK
arrays).

Normalisation is GroupNorm or InstanceNorm only. Both normalise each sample with its own
statistics and keep no running averages, so a network gives the same output in ``train()`` and
``eval()`` mode. BatchNorm is refused on purpose: the paper's code evaluated its networks with
batch-norm left in training mode, which makes a prediction depend on the rest of the batch.
"""

from torch import nn
from torch.nn import functional as F

from ..errors import InputError

NORMALISATIONS = ("group", "instance")
PAD_MODES = ("replicate", "constant")


def group_count(channels, max_groups=8):
    """The largest number of groups <= ``max_groups`` that divides ``channels``."""
    for groups in range(min(max_groups, channels), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def make_norm(kind, channels):
    """A normalisation layer of ``kind`` ("group" or "instance") for ``channels`` feature maps."""
    if kind == "group":
        return nn.GroupNorm(group_count(channels), channels)
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True, track_running_stats=False)
    raise InputError("normalisation %r is not supported; use one of %s (BatchNorm is refused: it "
                     "behaves differently in training and inference)" % (kind, ", ".join(NORMALISATIONS)))


class ConvNormAct(nn.Sequential):
    """Convolution (odd cubic kernel, 'same' padding) -> normalisation -> activation (optional)."""

    def __init__(self, in_channels, out_channels, kernel_size, norm, activation):
        layers = [nn.Conv3d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
                  make_norm(norm, out_channels)]
        if activation == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif activation == "prelu":
            layers.append(nn.PReLU(out_channels))
        elif activation is not None:
            raise ValueError("unknown activation %r" % (activation,))
        super().__init__(*layers)


def check_hyper(base_channels, depth, kernel_size, out_channels, in_channels, norm, pad_mode):
    """Raise InputError for hyper-parameters no network here can be built with."""
    for name, value, low in (("base_channels", base_channels, 1), ("depth", depth, 1),
                             ("out_channels", out_channels, 1), ("in_channels", in_channels, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InputError("network %s must be an integer >= %d, got %r" % (name, low, value))
    if depth > 6:
        raise InputError("network depth must be at most 6, got %d" % depth)
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError("network kernel_size must be a positive odd integer, got %r" % (kernel_size,))
    if norm not in NORMALISATIONS:
        make_norm(norm, 1)  # raises the explanatory InputError
    if pad_mode not in PAD_MODES:
        raise InputError("network pad_mode must be one of %s, got %r" % (", ".join(PAD_MODES), pad_mode))


def pad_to_multiple(x, multiple, mode="replicate"):
    """Pad the three spatial axes of ``x`` (N x C x D x H x W) up to a multiple of ``multiple``.

    Padding is split evenly before and after each axis. Returns the padded tensor and the slices
    that cut the original extent back out of a tensor of the padded size.
    """
    if x.dim() != 5:
        raise InputError("network input must be N x C x D x H x W (5 dimensions), got shape %s"
                         % (tuple(x.shape),))
    pads, slices = [], [slice(None), slice(None)]
    for size in x.shape[2:]:
        extra = (-size) % multiple
        before = extra // 2
        pads.append((before, extra - before))
        slices.append(slice(before, before + size))
    if any(sum(p) for p in pads):
        flat = []
        for before, after in reversed(pads):  # F.pad lists the last axis first
            flat.extend((before, after))
        x = F.pad(x, flat, mode=mode)
    return x, tuple(slices)


class PaddedNetwork(nn.Module):
    """Base class: pads the input to a multiple of 2**depth, runs ``body``, crops the logits back.

    Subclasses set ``self.depth``, ``self.pad_mode`` and ``self.hyper`` (the constructor's
    arguments, so that a checkpoint can rebuild the network) and implement ``body``.
    """

    name = None

    def forward(self, x):
        """Logits N x out_channels x D x H x W for an input N x in_channels x D x H x W (any size)."""
        padded, crop = pad_to_multiple(x, 2 ** self.depth, self.pad_mode)
        return self.body(padded)[crop]

    def body(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self):
        """{"name": registry name, "hyper": constructor arguments}: enough to rebuild the network."""
        return {"name": self.name, "hyper": dict(self.hyper)}


__all__ = ["NORMALISATIONS", "PAD_MODES", "ConvNormAct", "PaddedNetwork", "check_hyper",
           "group_count", "make_norm", "pad_to_multiple"]
