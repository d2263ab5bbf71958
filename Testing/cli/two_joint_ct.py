"""The analytic two-joint CT and the hand-made "networks" the ``nvseg run`` tests share
(test_cli_run.py, test_cli_run_cohort.py; fixtures in conftest.py).

The networks classify by intensity (condyle 1500 HU, temporal bone 700 HU), so a run tests the
plumbing (localise -> crop -> sliding window -> map back onto a rotated anisotropic CT grid ->
clean -> NV -> outputs) against analytic truth: spherical condyles (r 6 / 6.5 mm) under
hemispherical temporal-bone caps (inner radius 9 mm), NV = (2 pi / 3)(R^3 - r^3), condyle volume
= 4/3 pi r^3.
"""

import numpy as np
import SimpleITK as sitk
import torch

from NegativeVolumeSegmentationLib import cli
from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference import models as bundled_models

CENTRES = {L.LEFT: np.array([50.0, 3.0, -5.0]), L.RIGHT: np.array([-50.0, 3.0, -5.0])}
RADII = {L.LEFT: 6.5, L.RIGHT: 6.0}
CAP_INNER, CAP_OUTER = 9.0, 12.0
INTENSITY = {"clip_hu": [-1000.0, 2500.0], "center_hu": 500.0, "scale_hu": 1000.0}


class _Localiser(torch.nn.Module):
    """'joint' where the (3 mm, smoothed) CT is condyle-bright (> 1150 HU)."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 40.0 * (x - 0.65)], dim=1)


class _Segmenter(torch.nn.Module):
    """Background / condyle (> 770 HU) / temporal bone (370-770 HU) by intensity: thresholds at
    the midpoints between each bone and soft tissue (40 HU), so that linear resampling puts the
    boundaries where the CT voxels change (no threshold bias)."""

    def forward(self, x):
        tb = 40.0 * torch.minimum(x + 0.13, 0.27 - x)
        return torch.cat([torch.zeros_like(x), 40.0 * (x - 0.27), tb], dim=1)


def hand_models():
    loc_meta = {"target_spacing_mm": [3.0, 3.0, 3.0], "intensity": INTENSITY,
                "label_names": ["background", "temporomandibular joint"]}
    seg_meta = {"target_spacing_mm": [0.4, 0.4, 0.4], "intensity": INTENSITY,
                "label_names": ["background", "mandibular condyle", "temporal bone"],
                "extra": {"crop": {"crop_size_mm": [40.0, 40.0, 40.0],
                                   "crop_offset_mm": [0.0, 0.0, 4.0],
                                   "patch_size_xyz": [48, 48, 48]}}}
    return bundled_models.Models((_Segmenter().eval(), seg_meta), (_Localiser().eval(), loc_meta),
                           {"segmentation": "hand-made", "localizer": "hand-made"})


def _rotation(ax, az):
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


def make_ct(path, spacing=(0.45, 0.5, 0.8), size=(310, 110, 70)):
    """Two analytic joints in a soft-tissue slab with air around, rotated direction matrix."""
    direction = _rotation(0.12, 0.1)
    image = sitk.Image(list(size), sitk.sitkInt16)
    image.SetSpacing(spacing)
    image.SetDirection([float(v) for v in direction.ravel()])
    image.SetOrigin([float(v) for v in -direction @ ((np.asarray(size) - 1) / 2.0 * spacing)])
    k, j, i = np.indices(size[::-1])
    idx = np.stack([i, j, k], -1).reshape(-1, 3) * np.asarray(spacing)
    pts = idx @ direction.T + np.asarray(image.GetOrigin())
    hu = np.full(len(pts), 40.0)
    hu[np.abs(pts[:, 0]) > 64.0] = -1000.0
    for side, c in CENTRES.items():
        q = pts - c
        r = np.linalg.norm(q, axis=1)
        hu[(r >= CAP_INNER) & (r <= CAP_OUTER) & (q[:, 2] > 0)] = 700.0
        hu[r <= RADII[side]] = 1500.0
    ct = sitk.GetImageFromArray(hu.reshape(size[::-1]).astype(np.int16))
    ct.CopyInformation(image)
    sitk.WriteImage(ct, str(path))
    return ct


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``nvseg run ARGV``."""
    code = cli.main(["run"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_failure(code, err):
    assert code == 2
    assert err.startswith("nvseg: ") and err.strip().count("\n") == 0, err
