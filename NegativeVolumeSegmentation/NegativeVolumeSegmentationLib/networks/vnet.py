"""V-Net (Milletari, Navab & Ahmadi, 3DV 2016) for 3D segmentation, with GroupNorm/InstanceNorm.

Structure, for ``depth`` = d and ``base_channels`` = b (channels at level l: c_l = b * 2**l):

- Encoder level 0: residual stage of 1 convolution at b channels (the input, one channel, is
  broadcast to b channels for the residual sum, as in the paper).
- Encoder level l = 1..d: a strided 2x2x2 down-convolution c_{l-1} -> c_l (norm + PReLU), then a
  residual stage of ``min(l + 1, 3)`` convolutions at c_l channels (1, 2, 3, 3, 3 as in the paper).
- Decoder level l = d-1..0: a 2x2x2 stride-2 transposed convolution to c_l channels (norm + PReLU),
  concatenated with the encoder's level-l output (2 c_l channels), then a residual stage of
  ``min(l + 1, 3)`` convolutions at 2 c_l channels.
- Output: 1x1x1 convolution 2b -> ``out_channels`` logits (softmax belongs to the loss / inference).

A residual stage computes PReLU(x + F(x)) where F is (conv k^3 -> norm -> PReLU) repeated, the
last one without PReLU. Kernel ``kernel_size`` (5 in the paper). Input N x 1 x D x H x W of any
size: it is padded to a multiple of 2**depth and the logits are cropped back (see blocks).

Parameter counts (out_channels 3, GroupNorm; measured by Testing/networks/test_networks.py):
base 16, depth 4, kernel 5: 65.2 M parameters (the paper's width; far too big to bundle);
base 8, depth 4, kernel 5 (this class's defaults): 16.3 M; base 8, depth 4, kernel 3
(``networks.SMALL["vnet"]``, meant for bundling): 3.68 M = 14.7 MB float32, 7.4 MB float16.
The count grows with b**2 and roughly with kernel_size**3.
"""

import torch
from torch import nn

from .blocks import ConvNormAct, PaddedNetwork, check_hyper, make_norm


def convs_at_level(level):
    """Number of convolutions in the residual stage at ``level`` (1, 2, 3, 3, ... as the paper)."""
    return min(level + 1, 3)


class ResidualStage(nn.Module):
    """PReLU(x + F(x)); F = ``n_convs`` x (conv k^3 -> norm -> PReLU), the last without PReLU."""

    def __init__(self, channels, n_convs, kernel_size, norm):
        super().__init__()
        layers = [ConvNormAct(channels, channels, kernel_size, norm, "prelu")
                  for _ in range(n_convs - 1)]
        layers.append(ConvNormAct(channels, channels, kernel_size, norm, None))
        self.convs = nn.Sequential(*layers)
        self.activation = nn.PReLU(channels)

    def forward(self, x):
        return self.activation(x + self.convs(x))


class InputStage(nn.Module):
    """Level 0 of the encoder: conv in_channels -> b, residual sum with the (broadcast) input."""

    def __init__(self, in_channels, channels, kernel_size, norm):
        super().__init__()
        self.conv = ConvNormAct(in_channels, channels, kernel_size, norm, None)
        # One input channel is broadcast to all b channels (the paper's "x repeated 16 times");
        # several input channels need a learned 1x1x1 projection instead.
        self.project = None if in_channels == 1 else nn.Conv3d(in_channels, channels, 1)
        self.activation = nn.PReLU(channels)

    def forward(self, x):
        shortcut = x if self.project is None else self.project(x)
        return self.activation(self.conv(x) + shortcut)


class DownStage(nn.Module):
    """Strided 2x2x2 convolution (doubling channels) -> norm -> PReLU -> residual stage."""

    def __init__(self, in_channels, out_channels, n_convs, kernel_size, norm):
        super().__init__()
        self.down = nn.Sequential(nn.Conv3d(in_channels, out_channels, 2, stride=2),
                                  make_norm(norm, out_channels), nn.PReLU(out_channels))
        self.stage = ResidualStage(out_channels, n_convs, kernel_size, norm)

    def forward(self, x):
        return self.stage(self.down(x))


class UpStage(nn.Module):
    """2x2x2 transposed convolution to c channels, concatenation with the skip (c), residual stage at 2c."""

    def __init__(self, in_channels, skip_channels, n_convs, kernel_size, norm):
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose3d(in_channels, skip_channels, 2, stride=2),
                                make_norm(norm, skip_channels), nn.PReLU(skip_channels))
        self.stage = ResidualStage(2 * skip_channels, n_convs, kernel_size, norm)

    def forward(self, x, skip):
        return self.stage(torch.cat([self.up(x), skip], dim=1))


class VNet(PaddedNetwork):
    """V-Net: residual 3D encoder-decoder with strided down- and transposed up-convolutions.

    Parameters: ``in_channels`` (1: the normalised CT), ``out_channels`` (classes; 3 =
    background, condyle, temporal bone), ``base_channels`` b, ``depth`` (number of
    down-convolutions), ``kernel_size`` (odd), ``norm`` ("group" or "instance"), ``pad_mode``
    ("replicate" or "constant": how inputs are padded to a multiple of 2**depth).
    """

    name = "vnet"

    def __init__(self, in_channels=1, out_channels=3, base_channels=8, depth=4, kernel_size=5,
                 norm="group", pad_mode="replicate"):
        super().__init__()
        check_hyper(base_channels, depth, kernel_size, out_channels, in_channels, norm, pad_mode)
        self.hyper = dict(in_channels=in_channels, out_channels=out_channels,
                          base_channels=base_channels, depth=depth, kernel_size=kernel_size,
                          norm=norm, pad_mode=pad_mode)
        self.depth, self.pad_mode = depth, pad_mode
        channels = [base_channels * 2 ** level for level in range(depth + 1)]
        self.input_stage = InputStage(in_channels, channels[0], kernel_size, norm)
        self.down = nn.ModuleList(
            DownStage(channels[level - 1], channels[level], convs_at_level(level), kernel_size, norm)
            for level in range(1, depth + 1))
        up, width = [], channels[depth]
        for level in range(depth - 1, -1, -1):
            up.append(UpStage(width, channels[level], convs_at_level(level), kernel_size, norm))
            width = 2 * channels[level]
        self.up = nn.ModuleList(up)
        self.head = nn.Conv3d(width, out_channels, 1)

    def body(self, x):
        skips = [self.input_stage(x)]
        for stage in self.down:
            skips.append(stage(skips[-1]))
        x = skips.pop()
        for stage in self.up:
            x = stage(x, skips.pop())
        return self.head(x)
