"""Make docs/phantom_vs_real.png: the head phantom beside the real head CT around one TMJ.

Coronal and sagittal planes (LPS, through the condyle centre) of a head phantom and of the
Visible Human Female head CT (../shared/data/real/vhf_head.nii.gz, read in place, never copied),
same window (W 2000 / L 500) and the same millimetre scale (80 mm square planes, 0.25 mm pixels),
label outlines on the phantom (MC yellow, TB blue, NV green).

Usage: python docs/scripts/phantom_vs_real.py [--seed N] [--real PATH] [-o PNG]
"""

import argparse
import os
import sys

import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib.phantom.head import make_head_phantom  # noqa: E402

# Left condyle centre of the Visible Human Female head CT (LPS mm), found by inspecting its
# slices: voxel (191, 110, 74) of the 1 mm grid whose origin is (110, 120, 1520).
REAL_LEFT_CONDYLE_LPS = (301.0, 230.0, 1594.0)
HALF_MM, PIXEL_MM = 40.0, 0.25
WINDOW = (-500.0, 1500.0)  # W 2000, L 500


def plane(image, centre, axes, interpolator, default):
    """2-D array of ``image`` on the plane through ``centre`` spanned by LPS unit ``axes`` (u, v)."""
    n = int(round(2 * HALF_MM / PIXEL_MM))
    u, v = np.asarray(axes[0], float), np.asarray(axes[1], float)
    w = np.cross(u, v)
    ref = sitk.Image([n, n, 1], sitk.sitkFloat32)
    ref.SetSpacing([PIXEL_MM, PIXEL_MM, 1.0])
    ref.SetDirection(np.stack([u, v, w], axis=1).ravel().tolist())
    origin = np.asarray(centre, float) - HALF_MM * u - HALF_MM * v
    ref.SetOrigin(origin.tolist())
    out = sitk.Resample(image, ref, sitk.Transform(), interpolator, default, image.GetPixelID())
    return sitk.GetArrayFromImage(out)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--real", default=os.path.join(os.path.dirname(REPO), "shared", "data",
                                                       "real", "vhf_head.nii.gz"))
    parser.add_argument("-o", "--output", default=os.path.join(REPO, "docs", "phantom_vs_real.png"))
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phantom = make_head_phantom(seed=args.seed, fov="head", mouth="closed")
    side = "left" if phantom.truth["left"] is not None else "right"
    centre = phantom.truth[side]["condyle_center_lps_mm"]
    real = sitk.ReadImage(args.real)
    # coronal: u = patient's right->left (+x), v = superior (+z); sagittal: u = anterior (-y)
    # (lateral always to the right of the coronal panels: the real joint shown is the left one)
    lateral = (1, 0, 0) if side == "left" else (-1, 0, 0)
    views = [("coronal", (lateral, (0, 0, 1)), ((1, 0, 0), (0, 0, 1))),
             ("sagittal", ((0, -1, 0), (0, 0, 1)), ((0, -1, 0), (0, 0, 1)))]
    fig, axes = plt.subplots(2, 2, figsize=(11, 11))
    extent = (-HALF_MM, HALF_MM, -HALF_MM, HALF_MM)
    for row, (name, ax_uv, real_uv) in enumerate(views):
        ct = plane(phantom.ct, centre, ax_uv, sitk.sitkLinear, -1000)
        lab = plane(phantom.labels, centre, ax_uv, sitk.sitkNearestNeighbor, 0)
        ref = plane(real, REAL_LEFT_CONDYLE_LPS, real_uv, sitk.sitkLinear, -1000)
        a = axes[row, 0]
        a.imshow(ct, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], origin="lower", extent=extent)
        structure = np.zeros_like(lab)
        structure[np.isin(lab, (1, 2))] = 1
        structure[np.isin(lab, (3, 4))] = 2
        structure[np.isin(lab, (5, 6))] = 3
        for value, colour in ((1, "yellow"), (2, "deepskyblue"), (3, "lime")):
            mask = (structure == value).astype(float)
            if mask.any():
                a.contour(mask, levels=[0.5], colors=[colour], linewidths=0.8, origin="lower",
                          extent=extent)
        a.set_title("phantom seed %d, %s joint, %s" % (args.seed, side, name))
        b = axes[row, 1]
        b.imshow(ref, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], origin="lower", extent=extent)
        b.set_title("Visible Human Female head CT, left joint, %s" % name)
        for x in (a, b):
            x.set_xlabel("%s (mm)" % ("medial -> lateral" if name == "coronal"
                                      else "posterior -> anterior"))
            x.set_ylabel("inferior -> superior (mm)")
    fig.suptitle("Window W 2000 / L 500 HU, 0.25 mm pixels; outlines: MC yellow, TB blue, NV green")
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)
    print("wrote %s" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
