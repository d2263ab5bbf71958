"""3D U-Net with additive attention gates on the skip connections (Oktay et al., MIDL 2018).

The gate at decoder level l weighs the encoder features x (c_l channels, size S) with
coefficients alpha in (0, 1) computed from x and the coarser decoder features g (the gating
signal, c_{l+1} channels, size S/2):

    q     = ReLU(W_x * x + W_g * g + b_g)     W_x: 2x2x2 conv stride 2 (no bias), W_g: 1x1x1 conv
    alpha = sigmoid(psi * q + b_psi)          psi: 1x1x1 conv to one channel, at size S/2
    x_hat = W * (upsample_trilinear(alpha) . x)   W: 1x1x1 conv + norm, c_l -> c_l

The intermediate width is max(1, c_l // 2). The last coefficients of each gate are kept in
``network.attention_maps`` (list of N x 1 x D x H x W tensors at the skip's size, coarsest
first; sizes are those of the input padded to a multiple of 2**depth) for inspection. Everything else is the 3D U-Net of unet3d.py.
"""

from torch import nn
from torch.nn import functional as F

from .blocks import make_norm
from .unet3d import UNet3D


class AttentionGate(nn.Module):
    """Additive attention gate: multiplies skip features by coefficients computed with the gating signal."""

    def __init__(self, skip_channels, gate_channels, norm):
        super().__init__()
        inter = max(1, skip_channels // 2)
        self.theta_x = nn.Conv3d(skip_channels, inter, 2, stride=2, bias=False)
        self.phi_g = nn.Conv3d(gate_channels, inter, 1)
        self.psi = nn.Conv3d(inter, 1, 1)
        self.output = nn.Sequential(nn.Conv3d(skip_channels, skip_channels, 1),
                                    make_norm(norm, skip_channels))

    def coefficients(self, x, g):
        """Attention coefficients alpha (N x 1 x size of x), each in (0, 1)."""
        q = F.relu(self.theta_x(x) + self.phi_g(g))
        alpha = self.psi(q).sigmoid()
        return F.interpolate(alpha, size=x.shape[2:], mode="trilinear", align_corners=False)

    def forward(self, x, g):
        alpha = self.coefficients(x, g)
        return self.output(alpha * x), alpha


class AttentionUNet3D(UNet3D):
    """3D U-Net whose skips pass through additive attention gates. Parameters as UNet3D."""

    name = "attention_unet"

    def __init__(self, **hyper):
        super().__init__(**hyper)
        depth, channels, norm = self.depth, self.channels, self.hyper["norm"]
        self.gates = nn.ModuleList(AttentionGate(channels[level], channels[level + 1], norm)
                                   for level in range(depth - 1, -1, -1))
        self.attention_maps = []

    def gate_skip(self, index, skip, gating):
        if index == 0:
            self.attention_maps = []
        gated, alpha = self.gates[index](skip, gating)
        self.attention_maps.append(alpha.detach())
        return gated
