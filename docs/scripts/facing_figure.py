"""Make docs/facing.png: which way the face points (quality/facing.py) on the real head of
../shared, as read and with its header turned 180 degrees about the vertical axis (a prone scan
labelled supine; benchmarks/real_ct_probes.py, probe ``turned_180``).

    .venv/bin/python docs/scripts/facing_figure.py [CT] [--out docs/facing.png]

One column per case: the sagittal slice through the condyle at the header's left, in the
header's frame (anterior, -y, on the left of each panel), air (< -400 HU) tinted, the boxes the
check counts air in outlined (in front: orange; behind: blue, 3-30 mm from the condyle's centre,
15 mm below to 8 mm above it), the condyle's centre marked; the title has the air counted in
front of / behind each condyle and what the pipeline says.
"""

import argparse
import os
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib import RunOptions  # noqa: E402
from NegativeVolumeSegmentationLib.engine.air import AIR_HU  # noqa: E402
from NegativeVolumeSegmentationLib.inference.models import load_models  # noqa: E402
from NegativeVolumeSegmentationLib.pipeline import run_case  # noqa: E402
from NegativeVolumeSegmentationLib.quality import facing  # noqa: E402
from ct_variants import head_mask_stats  # noqa: E402
from real_ct_invariance import DEFAULT_CT  # noqa: E402
from real_ct_probes import build_probe  # noqa: E402

HALF_MM = 40.0   # half the panel's width and height


def _sagittal(image, centre):
    """(HU, extent) of the LPS y-z plane through ``centre`` (0.5 mm pixels, linear)."""
    step = 0.5
    n = int(2 * HALF_MM / step) + 1
    plane = sitk.Image([1, n, n], sitk.sitkFloat32)
    plane.SetSpacing([step] * 3)
    plane.SetOrigin([float(centre[0]), float(centre[1] - HALF_MM), float(centre[2] - HALF_MM)])
    hu = sitk.GetArrayFromImage(sitk.Resample(image, plane, sitk.Transform(), sitk.sitkLinear,
                                              -1000.0, sitk.sitkFloat32))[:, :, 0]
    return hu, (centre[1] - HALF_MM, centre[1] + HALF_MM, centre[2] - HALF_MM,
                centre[2] + HALF_MM)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ct", nargs="?", default=DEFAULT_CT)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "facing.png"))
    args = parser.parse_args(argv)
    scan = sitk.ReadImage(args.ct)
    models = load_models(device="cpu")
    untouched = run_case(scan, models, RunOptions(device="cpu"), device="cpu").report
    turn, middle = np.diag([-1.0, -1.0, 1.0]), head_mask_stats(scan)[0]   # as the probe turns

    def turned(point):
        return list(middle + turn @ (np.asarray(point, float) - middle))

    centres = {"as read": dict((s, untouched[s]["condyle_center_lps_mm"])
                               for s in ("left", "right"))}
    # the same condyles in the turned header's frame: the patient's right now at its left
    centres["turned 180"] = {"left": turned(untouched["right"]["condyle_center_lps_mm"]),
                             "right": turned(untouched["left"]["condyle_center_lps_mm"])}
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 6.2))
    for ax, (name, image) in zip(axes, (("as read", scan),
                                        ("turned 180", build_probe(scan, "turned_180",
                                                                   untouched)))):
        report = run_case(image, models, RunOptions(device="cpu"), device="cpu").report
        sides = centres[name]
        lateral, _ = facing.joints_axis(sides["left"], sides["right"])
        lateral = lateral if lateral[0] >= 0 else -lateral
        air = dict((s, facing.ear_canal_air(image, sides[s], lateral)) for s in sides)
        centre = np.asarray(sides["left"], float)
        hu, extent = _sagittal(image, centre)
        ax.imshow(hu, cmap="gray", vmin=-400, vmax=1600, extent=extent, origin="lower")
        ax.imshow(np.ma.masked_where(hu >= AIR_HU, np.ones_like(hu)), cmap="cool", alpha=0.45,
                  extent=extent, origin="lower", vmin=0, vmax=1)
        low, high = facing.REACH_MM
        for sign, colour in ((-1, "orange"), (1, "deepskyblue")):
            y0 = centre[1] + (low if sign > 0 else -high)
            ax.add_patch(Rectangle((y0, centre[2] - facing.BELOW_MM), high - low,
                                   facing.BELOW_MM + facing.ABOVE_MM, fill=False,
                                   edgecolor=colour, linewidth=1.6))
        ax.plot([centre[1]], [centre[2]], "+", color="yellow", markersize=12)
        ax.set_xlabel("y (mm, LPS: + posterior in the header's frame)")
        ax.set_ylabel("z (mm, + superior)")
        said = ("measured: NV %.0f / %.0f mm3" % (report["left"]["negative_volume_mm3"],
                                                  report["right"]["negative_volume_mm3"])
                if report["left"] else "not measurable: " + (report["quality"]["scan"]["reason"]
                                                             or "-").split(" (")[0])
        ax.set_title("\n".join([name + ": the condyle at the header's left",
                                "air in front / behind: left %.0f / %.0f, right %.0f / %.0f mm3"
                                % (air["left"][0], air["left"][1], air["right"][0],
                                   air["right"][1])] + textwrap.wrap(said, 60)), fontsize=9.5)
    fig.suptitle("Which way the face points: ear-canal air behind each condyle (blue box) and "
                 "none in front (orange box); air tinted", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
