"""3D U-Net (Cicek et al., MICCAI 2016) with GroupNorm/InstanceNorm instead of BatchNorm.

For ``depth`` d and ``base_channels`` b (channels at level l: c_l = b * 2**l):

- Encoder level 0: double convolution in_channels -> b. Level l = 1..d: 2x2x2 max-pool, then
  double convolution c_{l-1} -> c_l. A double convolution is 2 x (conv 3x3x3 -> norm -> ReLU).
- Decoder level l = d-1..0: upsample the coarser decoder features by 2 (``upsample``:
  "trilinear" or "nearest" interpolation followed by a 1x1x1 conv to c_l channels, or a 2x2x2
  "transpose" convolution), concatenate with the (optionally gated, see attention_unet) encoder
  output of level l, double convolution 2 c_l -> c_l.
- Output: 1x1x1 convolution b -> ``out_channels`` logits.

Inputs of any size are padded to a multiple of 2**depth and the logits cropped back (blocks).
"""

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from .blocks import ConvNormAct, PaddedNetwork, check_hyper

UPSAMPLING = ("trilinear", "nearest", "transpose")


class DoubleConv(nn.Sequential):
    """2 x (conv k^3 -> norm -> ReLU); the first changes the channel count."""

    def __init__(self, in_channels, out_channels, kernel_size, norm):
        super().__init__(ConvNormAct(in_channels, out_channels, kernel_size, norm, "relu"),
                         ConvNormAct(out_channels, out_channels, kernel_size, norm, "relu"))


class Upsample(nn.Module):
    """Doubles the spatial size and maps in_channels -> out_channels."""

    def __init__(self, in_channels, out_channels, mode):
        super().__init__()
        self.mode = mode
        if mode == "transpose":
            self.conv = nn.ConvTranspose3d(in_channels, out_channels, 2, stride=2)
        else:
            self.conv = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x):
        if self.mode == "transpose":
            return self.conv(x)
        kwargs = {"align_corners": False} if self.mode == "trilinear" else {}
        return self.conv(F.interpolate(x, scale_factor=2, mode=self.mode, **kwargs))


class UNet3D(PaddedNetwork):
    """3D U-Net. Parameters as VNet (``kernel_size`` default 3) plus ``upsample``."""

    name = "unet3d"

    def __init__(self, in_channels=1, out_channels=3, base_channels=8, depth=4, kernel_size=3,
                 norm="group", pad_mode="replicate", upsample="trilinear"):
        super().__init__()
        check_hyper(base_channels, depth, kernel_size, out_channels, in_channels, norm, pad_mode)
        if upsample not in UPSAMPLING:
            raise InputError("network upsample must be one of %s, got %r"
                             % (", ".join(UPSAMPLING), upsample))
        self.hyper = dict(in_channels=in_channels, out_channels=out_channels,
                          base_channels=base_channels, depth=depth, kernel_size=kernel_size,
                          norm=norm, pad_mode=pad_mode, upsample=upsample)
        self.depth, self.pad_mode = depth, pad_mode
        channels = [base_channels * 2 ** level for level in range(depth + 1)]
        self.channels = channels
        self.encoder = nn.ModuleList([DoubleConv(in_channels, channels[0], kernel_size, norm)])
        self.encoder.extend(DoubleConv(channels[level - 1], channels[level], kernel_size, norm)
                            for level in range(1, depth + 1))
        self.upsample = nn.ModuleList(Upsample(channels[level + 1], channels[level], upsample)
                                      for level in range(depth - 1, -1, -1))
        self.decoder = nn.ModuleList(DoubleConv(2 * channels[level], channels[level], kernel_size, norm)
                                     for level in range(depth - 1, -1, -1))
        self.head = nn.Conv3d(channels[0], out_channels, 1)

    def gate_skip(self, index, skip, gating):
        """The skip connection passed to decoder step ``index``; plain U-Net: unchanged."""
        return skip

    def body(self, x):
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else F.max_pool3d(x, 2))
            skips.append(x)
        x = skips.pop()
        for index, (up, block) in enumerate(zip(self.upsample, self.decoder)):
            skip = self.gate_skip(index, skips.pop(), x)
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)
