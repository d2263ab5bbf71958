"""Running a segmentation network over a volume: one forward pass when it fits, else a sliding
window with Gaussian blending.

"Fits" means: no larger than the training patch, or at most ``max_single_pass_voxels`` voxels
(memory). A whole joint crop (~0.7 M voxels) or a whole head at 3 mm (~0.4 M) is one pass, as in
the training code's evaluation (so the shipped numbers are the evaluated ones); a bigger volume
is cut into training-patch windows blended with Gaussian weights.

Volumes are numpy arrays in (z, y, x) array order, already resampled and intensity-normalised by
the caller; outputs are softmax class probabilities (C, z, y, x) float32 on the same voxels.
Geometry (mm, LPS) is the caller's business: this module only sees voxels.
"""

import numpy as np
import torch

DEFAULT_OVERLAP = 0.5
SIGMA_FRACTION = 0.125      # Gaussian sigma = this fraction of the patch edge (per axis)
MIN_WEIGHT = 1e-3           # floor of the normalised Gaussian so every voxel gets some weight
SINGLE_PASS_VOXELS = 4000000  # one pass up to this many voxels (~1-2 GB for a small V-Net on CPU)


def gaussian_weights(patch_size, sigma_fraction=SIGMA_FRACTION):
    """Blending weights of a patch (z, y, x): exp(-d²/2σ²) per axis about the patch centre
    ((n-1)/2 in voxels), σ = sigma_fraction · n, product over axes, max 1, floored at MIN_WEIGHT."""
    weights = np.ones([int(n) for n in patch_size], dtype=np.float64)
    for axis, n in enumerate(patch_size):
        x = np.arange(int(n), dtype=np.float64) - (int(n) - 1) / 2.0
        g = np.exp(-0.5 * (x / (sigma_fraction * int(n))) ** 2)
        shape = [1] * len(patch_size)
        shape[axis] = int(n)
        weights = weights * g.reshape(shape)
    weights /= weights.max()
    return np.maximum(weights, MIN_WEIGHT).astype(np.float32)


def window_starts(size, patch, overlap=DEFAULT_OVERLAP):
    """Start indices of windows of length ``patch`` covering [0, size) with the given overlap;
    the last window ends exactly at ``size`` (size >= patch)."""
    size, patch = int(size), int(patch)
    if size <= patch:
        return [0]
    step = max(1, int(round(patch * (1.0 - overlap))))
    starts = list(range(0, size - patch, step))
    starts.append(size - patch)
    return sorted(set(starts))


def _forward(network, block, device, half):
    """Softmax probabilities (C, z, y, x) float32 numpy of one (z, y, x) block."""
    tensor = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))[None, None]
    tensor = tensor.to(device)
    kind = torch.device(device).type
    with torch.no_grad():
        if half and kind in ("cuda", "cpu"):
            dtype = torch.float16 if kind == "cuda" else torch.bfloat16
            with torch.autocast(kind, dtype=dtype):
                logits = network(tensor)
        else:
            logits = network(tensor)
        probs = torch.softmax(logits.float(), dim=1)[0]
    return probs.cpu().numpy().astype(np.float32)


def predict_probabilities(network, volume, patch_size=None, overlap=DEFAULT_OVERLAP,
                          device="cpu", half=False, pad_value=None,
                          max_single_pass_voxels=SINGLE_PASS_VOXELS):
    """Class probabilities (C, z, y, x) of ``volume`` (z, y, x).

    Args:
        network: torch module in eval mode on ``device``; logits N x C x D x H x W.
        volume: normalised 3D numpy array.
        patch_size: (z, y, x) window; None, a volume no larger than it or one of at most
            ``max_single_pass_voxels`` voxels -> one forward pass.
        overlap: fraction of a window shared with its neighbour (0 <= overlap < 1).
        device: torch device (or its name); half: reduced-precision autocast (float16 on CUDA,
            bfloat16 on CPU; the caller decides, :mod:`.device`).
        pad_value: value used to pad a volume smaller than the window along some axis
            (default: the volume's minimum, i.e. air after normalisation).
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError("volume must be 3D (z, y, x), got shape %s" % (volume.shape,))
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be in [0, 1), got %r" % (overlap,))
    if patch_size is None or all(s <= p for s, p in zip(volume.shape, patch_size)) \
            or volume.size <= max_single_pass_voxels:
        return _forward(network, volume, device, half)
    patch = [int(p) for p in patch_size]
    pads = [(0, max(0, p - s)) for s, p in zip(volume.shape, patch)]
    fill = float(volume.min()) if pad_value is None else float(pad_value)
    padded = np.pad(volume, pads, mode="constant", constant_values=fill)
    weights = gaussian_weights(patch)
    total = None
    norm = np.zeros(padded.shape, dtype=np.float32)
    for z in window_starts(padded.shape[0], patch[0], overlap):
        for y in window_starts(padded.shape[1], patch[1], overlap):
            for x in window_starts(padded.shape[2], patch[2], overlap):
                box = (slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
                probs = _forward(network, padded[box], device, half)
                if total is None:
                    total = np.zeros((probs.shape[0],) + padded.shape, dtype=np.float32)
                total[(slice(None),) + box] += probs * weights[None]
                norm[box] += weights
    total /= norm[None]
    crop = (slice(None),) + tuple(slice(0, s) for s in volume.shape)
    return np.ascontiguousarray(total[crop])
