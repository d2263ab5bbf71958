"""Make docs/metal_probes.png: the real head of ../shared with metal put into it
(benchmarks/metal_artifacts.py, the probes ``metal_*`` of benchmarks/real_ct_probes.py) and
what the pipeline says of its left joint.

    .venv/bin/python docs/scripts/metal_figure.py [CT] [--out docs/metal_probes.png]

One column per probe: the axial slice holding the most metal within 25 mm of the left condyle
(the fillings: their own slice), and the coronal slice through the left condyle's centre with
the segmented condyle (yellow) and temporal bone (blue) outlined; the title has the left side's
NV against the untouched scan's, or "not measurable" and why, and the metal caution if any.
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

from NegativeVolumeSegmentationLib import RunOptions, labels as L  # noqa: E402
from NegativeVolumeSegmentationLib.inference.models import load_models  # noqa: E402
from NegativeVolumeSegmentationLib.pipeline import run_case  # noqa: E402
from real_ct_invariance import DEFAULT_CT  # noqa: E402
from real_ct_probes import build_probe  # noqa: E402
import metal_artifacts  # noqa: E402

PROBES = ("metal_fillings", "metal_plate_left_10", "metal_plate_left_2", "metal_prosthesis_left")
HALF_MM = 30.0   # half the width of each panel


def _outline(ax, mask, extent, colour):
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.0,
                   extent=extent, origin="lower")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ct", nargs="?", default=DEFAULT_CT)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "metal_probes.png"))
    args = parser.parse_args(argv)
    scan = sitk.ReadImage(args.ct)
    models = load_models(device="cpu")
    untouched = run_case(scan, models, RunOptions(device="cpu"), device="cpu").report
    centre = np.asarray(untouched["left"]["condyle_center_lps_mm"], float)
    fig, axes = plt.subplots(2, len(PROBES), figsize=(4.2 * len(PROBES), 9.4))
    for column, name in enumerate(PROBES):
        image = build_probe(scan, name, untouched)
        result = run_case(image, models, RunOptions(device="cpu"), device="cpu")
        ct = sitk.GetArrayFromImage(image)
        origin, spacing = np.asarray(image.GetOrigin()), np.asarray(image.GetSpacing())
        metal = ct >= metal_artifacts.METAL_VALUE - 1
        zs = np.flatnonzero(metal.any(axis=(1, 2)))
        near = [k for k in zs if abs(origin[2] + spacing[2] * k - centre[2]) <= 25.0]
        k = max(near or zs, key=lambda z: metal[z].sum())
        i0, j0 = [int(round((centre[a] - origin[a]) / spacing[a])) for a in (0, 1)]
        h = int(HALF_MM / spacing[0])
        if name == "metal_fillings":   # the fillings lie in front of the joints: a wider view
            ax_view = ct[k, :, :]
            extent = (origin[0], origin[0] + spacing[0] * ct.shape[2],
                      origin[1] + spacing[1] * ct.shape[1], origin[1])
        else:
            ax_view = ct[k, j0 - h:j0 + h, i0 - h:i0 + h]
            extent = (centre[0] - HALF_MM, centre[0] + HALF_MM, centre[1] + HALF_MM,
                      centre[1] - HALF_MM)
        top = axes[0, column]
        top.imshow(ax_view, cmap="gray", vmin=-300, vmax=1800, extent=extent)
        top.set_title("%s\naxial z = %.0f mm (LPS)" % (name, origin[2] + spacing[2] * k),
                      fontsize=10)
        top.set_xlabel("x (mm, + = patient's left)")
        labels = result.labels
        lab = sitk.GetArrayFromImage(labels)
        lo, ls = np.asarray(labels.GetOrigin()), np.asarray(labels.GetSpacing())
        kc = int(round((centre[1] - lo[1]) / ls[1]))
        coronal = sitk.GetArrayFromImage(sitk.Resample(image, labels, sitk.Transform(),
                                                       sitk.sitkLinear, -1000.0))[:, kc, :]
        ext = (lo[0], lo[0] + ls[0] * lab.shape[2], lo[2], lo[2] + ls[2] * lab.shape[0])
        bottom = axes[1, column]
        bottom.imshow(coronal, cmap="gray", vmin=-300, vmax=1800, extent=ext, origin="lower")
        _outline(bottom, lab[:, kc, :] == L.CONDYLE["left"], ext, "gold")
        _outline(bottom, lab[:, kc, :] == L.TEMPORAL_BONE["left"], ext, "cornflowerblue")
        bottom.set_xlim(centre[0] - 20, centre[0] + 20)
        bottom.set_ylim(centre[2] - 25, centre[2] + 15)
        left = result.report["left"]
        if left is None:
            said = "left: not measurable: " + result.report["quality"]["left"]["reason"]
        else:
            change = 100.0 * (left["negative_volume_mm3"]
                              / untouched["left"]["negative_volume_mm3"] - 1.0)
            said = "left NV %.0f mm3 (%+.1f %%)" % (left["negative_volume_mm3"], change)
            said += "".join("; caution: " + c[len("left side: "):].split(";")[0]
                            for c in result.report.get("cautions") or []
                            if c.startswith("left side: metal"))
        bottom.set_title("\n".join(textwrap.wrap(said, 46)), fontsize=9,
                         color="#b03020" if left is None else "black")
        bottom.set_xlabel("coronal through the left condyle: x (mm)")
    fig.suptitle("Metal in the real head (benchmarks/metal_artifacts.py) and the quality gate's "
                 "answer (untouched left NV %.0f mm3)" % untouched["left"]["negative_volume_mm3"],
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
