"""Make docs/roof_gaps.png: a hole that 2 mm slices cut into the fossa roof, and its bridge.

    .venv/bin/python docs/scripts/roof_gaps_figure.py [--seed 100012] [--side right]
        [--cache runs/clinical-grids] [--out docs/roof_gaps.png]

The whole-head phantom of ``--seed`` on a 0.6 x 0.6 x 2 mm grid (cached as
benchmarks/clinical_grids.py does), measured from its true labels with its CT
(`pipeline.measure_labels`): left, the true labels in the coronal and sagittal slices through
the condyle's top (the roof's hole shows as missing temporal bone above it); right, the
joint-space thickness on the condyle seen from above without the bridge (the engine with
``roof_gaps.enclosed_misses`` answering "no gap": grey islands where the rays passed the hole)
and as measured. NV against the phantom's implicit truth in the titles.
"""

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib import RunOptions, labels as L, pipeline  # noqa: E402
from NegativeVolumeSegmentationLib.engine import roof_gaps  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom, write_phantom  # noqa: E402
from NegativeVolumeSegmentationLib.report.figure import _thickness_panel  # noqa: E402

GRID = (0.6, 0.6, 2.0)


def measure(folder, side, bridged):
    """(report side dict, condyle mesh) from the true labels with the CT."""
    keep = roof_gaps.enclosed_misses
    if not bridged:  # the engine as it was before the bridge: no missing ray is a gap
        roof_gaps.enclosed_misses = lambda hit, edges, areas=None: np.zeros(len(hit), bool)
    try:
        result = pipeline.measure_labels(os.path.join(folder, "labels.nii.gz"),
                                         RunOptions(device="cpu"),
                                         ct=os.path.join(folder, "ct.nii.gz"))
    finally:
        roof_gaps.enclosed_misses = keep
    return result.report[side], result.meshes[side]["condyle"]


def label_slices(folder, side):
    """(coronal, sagittal) label slices (2-D arrays, superior up) through the condyle's top, and
    their extents (mm); the grid is axis-aligned LPS."""
    image = sitk.ReadImage(os.path.join(folder, "labels.nii.gz"))
    a = sitk.GetArrayFromImage(image)
    mc = np.argwhere(a == L.CONDYLE[side])
    top = mc[mc[:, 0] == mc[:, 0].max()].mean(axis=0).round().astype(int)
    sp = np.asarray(image.GetSpacing(), float)
    k0, j0, i0 = top
    half = (np.array([14.0, 14.0, 10.0]) / sp).astype(int)  # x, y, z half-widths, voxels
    zs = slice(k0 - 2 * half[2], k0 + half[2])
    coronal = a[zs, j0, i0 - half[0]:i0 + half[0]][::-1]
    sagittal = a[zs, j0 - half[1]:j0 + half[1], i0][::-1]
    z_ext = [-2 * half[2] * sp[2], half[2] * sp[2]]
    return ((coronal, [-half[0] * sp[0], half[0] * sp[0]] + z_ext),
            (sagittal, [-half[1] * sp[1], half[1] * sp[1]] + z_ext))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=100012)
    parser.add_argument("--side", default="right", choices=L.SIDES)
    parser.add_argument("--cache", default=os.path.join(ROOT, "runs", "clinical-grids"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "roof_gaps.png"))
    args = parser.parse_args(argv)
    folder = os.path.join(args.cache, "seed-%d-%s" % (args.seed, "x".join("%g" % v for v in GRID)))
    if not os.path.exists(os.path.join(folder, "truth.json")):
        write_phantom(make_phantom("head", args.seed, fov="head", mouth="closed", spacing=GRID),
                      folder)
    with open(os.path.join(folder, "truth.json")) as stream:
        truth = json.load(stream)[args.side]["negative_volume_mm3"]
    before, before_mesh = measure(folder, args.side, bridged=False)
    after, after_mesh = measure(folder, args.side, bridged=True)

    fig = plt.figure(figsize=(17, 5.2))
    colours = matplotlib.colors.ListedColormap(["black", "gold", "gold", "royalblue",
                                                "royalblue", "black", "black"])
    for n, ((plane, extent), name) in enumerate(zip(label_slices(folder, args.side),
                                                    ("coronal (R-L)", "sagittal (A-P)"))):
        ax = fig.add_subplot(1, 4, n + 1)
        ax.imshow(np.where(plane <= 4, plane, 0), cmap=colours, vmin=0, vmax=6,
                  extent=extent, interpolation="nearest", aspect="equal")
        ax.set_title("true labels, %s slice\nthrough the condyle's top" % name, fontsize=9)
        ax.set_xlabel("mm from the condyle's top")
    for n, (side, mesh, title) in enumerate(((before, before_mesh, "without the bridge"),
                                             (after, after_mesh, "bridged"))):
        ax = fig.add_subplot(1, 4, n + 3)
        _thickness_panel(ax, fig, mesh, args.side)
        ax.set_title("%s\nNV %.0f mm3, %+.1f %% against the truth %.0f mm3\n%.1f mm2 of the "
                     "condyle bridged (grey: no contact)"
                     % (title, side["negative_volume_mm3"],
                        100.0 * (side["negative_volume_mm3"] / truth - 1.0), truth,
                        side["roof_gap_mm2"]), fontsize=9)
    fig.suptitle("Head phantom %d, %s joint, 0.6 x 0.6 x 2 mm: holes the slices cut into the "
                 "fossa roof (condyle gold, temporal bone blue: no roof over the top), and the joint space "
                 "over them" % (args.seed, args.side), fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("%s: without the bridge %.1f mm3, bridged %.1f mm3 (%.1f mm2), truth %.1f mm3"
          % (args.out, before["negative_volume_mm3"], after["negative_volume_mm3"],
             after["roof_gap_mm2"], truth))


if __name__ == "__main__":
    main()
