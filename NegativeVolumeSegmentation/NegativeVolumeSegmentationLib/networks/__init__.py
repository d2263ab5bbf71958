"""Segmentation networks (PyTorch): V-Net, 3D U-Net, attention 3D U-Net, built by name.

Every network maps N x in_channels x D x H x W float input (the CT resampled to the model's
target spacing and intensity-normalised by the caller) to logits N x out_channels x D x H x W of
the same spatial size; any size works (padded internally to a multiple of 2**depth and cropped
back). Default classes: 3 = background, mandibular condyle, temporal bone (one network for both
joints; right joints are mirrored to look like left ones by the caller).

    net = build_network("vnet", **SMALL["vnet"])     # the small configuration meant for bundling
    net.config()   # {"name": "vnet", "hyper": {...}}: rebuild with build_network(**net.config())
"""

import inspect

from ..errors import InputError
from .attention_unet import AttentionUNet3D
from .unet3d import UNet3D
from .vnet import VNet

NETWORKS = {cls.name: cls for cls in (VNet, UNet3D, AttentionUNet3D)}

# Small configurations meant for a bundled model (a few MB of float32 weights; counts measured
# in Testing/networks/test_networks.py). The class defaults follow the papers; they differ from
# these only in V-Net's kernels (5x5x5 there, 3x3x3 here).
SMALL = {
    "vnet": dict(base_channels=8, depth=4, kernel_size=3),
    "unet3d": dict(base_channels=8, depth=4),
    "attention_unet": dict(base_channels=8, depth=4),
}


def network_names():
    """Names build_network accepts."""
    return tuple(NETWORKS)


def build_network(name, hyper=None, **more):
    """The network called ``name`` built with hyper-parameters ``hyper`` / keyword arguments.

    ``build_network(**net.config())`` rebuilds a network from its config. Unknown names or
    hyper-parameters raise InputError naming what is accepted.
    """
    if name not in NETWORKS:
        raise InputError("unknown network %r; choose one of %s" % (name, ", ".join(NETWORKS)))
    cls = NETWORKS[name]
    options = dict(hyper or {}, **more)
    accepted = hyper_parameters(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError("network %s does not take %s; it takes %s"
                         % (name, ", ".join(unknown), ", ".join(accepted)))
    return cls(**options)


def hyper_parameters(name):
    """{hyper-parameter: default} of network ``name``."""
    cls = NETWORKS[name]
    init = UNet3D.__init__ if cls is AttentionUNet3D else cls.__init__
    params = inspect.signature(init).parameters
    return {key: p.default for key, p in params.items() if key != "self"}


def count_parameters(network):
    """Number of trainable parameters (float32 bytes = 4 x this)."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


__all__ = ["NETWORKS", "SMALL", "AttentionUNet3D", "UNet3D", "VNet", "build_network",
           "count_parameters", "hyper_parameters", "network_names"]
