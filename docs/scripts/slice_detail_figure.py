"""Make docs/slice_detail.png: the real head of ../shared and copies of it made of thick slices
(the probes ``slices_<mm>_<interpolator>`` / ``thick_<mm>`` of benchmarks/real_ct_probes.py), what
the quality gate reads of their slices' detail (NegativeVolumeSegmentationLib/slice_detail.py)
and what it says.

    .venv/bin/python docs/scripts/slice_detail_figure.py [CT] [--out docs/slice_detail.png]

Top row: the sagittal slice through the left condyle's centre (from the pipeline's run on the
untouched scan), 60 x 60 mm, for the untouched scan and three copies; each title has the detail
read and the gate's verdict. Bottom: the power along the slice axis over the in-plane axes', per
frequency (normalised at 0.01-0.03 cycles/mm), with the half that decides and each copy's f_half.
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
import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib import RunOptions, quality  # noqa: E402
from NegativeVolumeSegmentationLib.inference.models import load_models  # noqa: E402
from NegativeVolumeSegmentationLib.pipeline import run_case  # noqa: E402
from NegativeVolumeSegmentationLib.slice_detail import HALF_POWER_TIMES_MM, detail_ratio  # noqa: E402
from real_ct_invariance import DEFAULT_CT  # noqa: E402
from real_ct_probes import thick_slices  # noqa: E402

SHOWN = ("slices_2_linear", "thick_3", "slices_3_linear", "slices_5_linear")
PANELS = ("untouched", "thick_3", "slices_3_linear", "slices_5_linear")
HALF_MM = 30.0


def _sagittal(image, centre):
    """(60 x 60 mm sagittal slice through ``centre`` (LPS) on the scan's y-z grid, extent)."""
    index = image.TransformPhysicalPointToIndex([float(v) for v in centre])
    array = sitk.GetArrayViewFromImage(image)[:, :, index[0]]
    s, o = image.GetSpacing(), image.GetOrigin()
    y = o[1] + s[1] * np.arange(array.shape[1])
    z = o[2] + s[2] * np.arange(array.shape[0])
    keep_y = np.abs(y - centre[1]) <= HALF_MM
    keep_z = np.abs(z - centre[2]) <= HALF_MM
    part = array[np.ix_(keep_z, keep_y)]
    return part, (y[keep_y][0], y[keep_y][-1], z[keep_z][0], z[keep_z][-1])


def _verdict(image):
    verdict = quality.check_scan(image)
    slices = [c for c in verdict.cautions if c.startswith("slices")]
    if not verdict.measurable:
        return "not measurable", verdict.reason.split(" (limit")[0]
    return ("measured, caution" if slices else "measured"), (slices[0].split(" (over")[0]
                                                             if slices else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ct", nargs="?", default=DEFAULT_CT)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "slice_detail.png"))
    args = parser.parse_args(argv)
    scan = sitk.ReadImage(args.ct)
    report = run_case(scan, load_models(device="cpu"), RunOptions(device="cpu"),
                      device="cpu").report
    centre = report["left"]["condyle_center_lps_mm"]
    images = {"untouched": scan}
    images.update((name, thick_slices(scan, name)) for name in set(SHOWN + PANELS) - {"untouched"})

    fig = plt.figure(figsize=(14, 9.5))
    grid = fig.add_gridspec(2, len(PANELS), height_ratios=[1.0, 1.0], hspace=0.38, wspace=0.12)
    for column, name in enumerate(PANELS):
        ax = fig.add_subplot(grid[0, column])
        part, extent = _sagittal(images[name], centre)
        ax.imshow(part, cmap="gray", vmin=-400, vmax=1800, origin="lower", extent=extent,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(extent[0] + 1, extent[3] - 3, "A", color="w", fontweight="bold")
        ax.text(extent[1] - 4, extent[3] - 3, "P", color="w", fontweight="bold")
        detail = quality.ct_slice_detail(images[name])
        state, why = _verdict(images[name])
        title = "%s\ndetail read: %s\n%s" % (
            name, "-" if detail is None else "%.2g mm slices" % detail, state)
        ax.set_title(title, fontsize=10, color="firebrick" if state == "not measurable" else
                     ("darkorange" if "caution" in state else "black"))
    ax = fig.add_subplot(grid[1, :])
    for k, name in enumerate(("untouched",) + SHOWN):
        frequencies, ratio = detail_ratio(images[name], 2)
        line, = ax.plot(frequencies, ratio, label=name)
        detail = quality.ct_slice_detail(images[name])
        if detail is not None:
            f_half = HALF_POWER_TIMES_MM / detail
            ax.plot([f_half], [0.5], "o", color=line.get_color())
            ax.annotate("%.2g mm" % detail, (f_half, 0.5), textcoords="offset points",
                        xytext=(4, -14 if k % 2 else 6), color=line.get_color(), fontsize=9)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_ylim(0, 1.6)
    ax.set_xlim(0, 0.45)
    ax.set_xlabel("frequency along the axis (cycles/mm)")
    ax.set_ylabel("power across the slices / in-plane")
    ax.set_title("\n".join(textwrap.wrap(
        "Detail across the slices against within them: the real head holds as much either way; "
        "a copy made of thick slices loses it above f_half (dot: the detail read, "
        "%.2f / f_half mm; the gate judges it as slices of detail / %.2f)"
        % (HALF_POWER_TIMES_MM, quality.DETAIL_MARGIN), 120)), fontsize=10)
    ax.legend(loc="upper center", ncol=5, fontsize=9)
    fig.suptitle("The slices' detail read from the image: the real head (VHF, 1 mm) and copies of "
                 "it made of thick slices, sagittal through the left condyle", fontsize=12)
    fig.savefig(args.out, dpi=100)
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
