"""Make docs/ear_canal.png: an ear canal open behind the condyle, and the NV with and without air.

    .venv/bin/python docs/scripts/ear_canal_figure.py [--seed 0] [--out docs/ear_canal.png]
        [--table-seeds 0 1 2 ...]

The head phantom of ``--seed`` as a CBCT crop of its left joint (0.5 mm, mouth closed) with its
ear canal open 2 mm behind the condyle (``make_phantom(..., ear_canal="open")``). Three sagittal
slices on the CT (where the NV measured without the CT holds the most air), with the condyle (gold), temporal bone (blue)
and NV (green) outlined: the phantom's truth (rays stop at the canal's implicit air), the engine
on the label map alone (no air information: the NV fills the canal) and the engine with the CT
(the air rule). NV in the titles. ``--table-seeds`` prints, for those seeds' crops (the left
joint for even seeds, the right for odd), the truth, the rays into the canal and the engine's NV
with and without the CT, instead of drawing.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib import labels as L  # noqa: E402
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom  # noqa: E402


def table(seeds):
    print("| seed | side | truth mm3 | rays into the canal | with the CT mm3 | % | label map "
          "alone mm3 | % |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in seeds:
        side = L.LEFT if seed % 2 == 0 else L.RIGHT
        ph = make_phantom("head", seed=seed, fov="cbct-" + side, mouth="closed",
                          spacing=(0.5,) * 3, nv_step_mm=0.4, ear_canal="open")
        truth = ph.truth[side]
        want = truth["negative_volume_mm3"]
        got = [measure_negative_volume(ph.labels, ct=ct).sides[side]["negative_volume_mm3"]
               for ct in (ph.ct, None)]
        print("| %d | %s | %.0f | %d | %.0f | %+.1f | %.0f | %+.1f |" % (
            seed, side, want, truth["rays_into_air"], got[0], 100 * (got[0] / want - 1),
            got[1], 100 * (got[1] / want - 1)), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "ear_canal.png"))
    parser.add_argument("--table-seeds", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.table_seeds:
        table(args.table_seeds)
        return
    side = L.LEFT
    ph = make_phantom("head", seed=args.seed, fov="cbct-left", mouth="closed",
                      spacing=(0.5,) * 3, nv_step_mm=0.4, ear_canal="open")
    ct = sitk.GetArrayFromImage(ph.ct)
    truth = sitk.GetArrayFromImage(ph.labels)
    blind = measure_negative_volume(ph.labels)
    with_ct = measure_negative_volume(ph.labels, ct=ph.ct)
    panels = [("phantom truth (rays stop at the canal's air)",
               truth, ph.truth["left"]["negative_volume_mm3"]),
              ("engine, label map alone (no air information)",
               sitk.GetArrayFromImage(blind.labels), blind.sides["left"]["negative_volume_mm3"]),
              ("engine with the CT (air is never joint space)",
               sitk.GetArrayFromImage(with_ct.labels),
               with_ct.sides["left"]["negative_volume_mm3"])]
    mc = truth == L.CONDYLE[side]
    kz, jy, ix = np.nonzero(mc)
    leak = (panels[1][1] == L.NEGATIVE_VOLUME[side]) & (ct < -400)
    x = int(np.argmax(leak.sum(axis=(0, 1))))  # the sagittal slice where the blind NV leaks most
    top = int(kz.max())
    z0, z1 = max(top - 40, 0), min(top + 16, ct.shape[0])
    y0, y1 = max(int(jy.min()) - 20, 0), min(int(jy.max()) + 36, ct.shape[1])
    sy, sz = ph.ct.GetSpacing()[1], ph.ct.GetSpacing()[2]
    extent = [y0 * sy, y1 * sy, z0 * sz, z1 * sz]
    direction = np.array(ph.ct.GetDirection()).reshape(3, 3)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    for ax, (title, labels, nv) in zip(axes, panels):
        window = np.clip(ct[z0:z1, y0:y1, x], -1000, 1500)
        ax.imshow(window, cmap="gray", origin="lower", extent=extent, vmin=-1000, vmax=1500)
        for value, colour in ((L.CONDYLE[side], "gold"), (L.TEMPORAL_BONE[side], "deepskyblue"),
                              (L.NEGATIVE_VOLUME[side], "lime")):
            mask = (labels[z0:z1, y0:y1, x] == value).astype(float)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=colour, linewidths=1.2, origin="lower",
                           extent=extent)
        ax.set_title("%s\nNV %.0f mm$^3$" % (title, nv), fontsize=10)
        ax.set_xlabel("array y (mm; grid axis %s)" % np.round(direction[:, 1], 2))
        ax.set_ylabel("array z (mm)")
    offset = (x - ix.mean()) * ph.ct.GetSpacing()[0] * direction[0, 0]  # LPS x: + is left
    fig.suptitle("Head phantom seed %d, left joint, ear canal open 2 mm behind the condyle "
                 "(sagittal slice %.1f mm %s of the condyle's centre; dark = air)"
                 % (args.seed, abs(offset), "lateral" if offset > 0 else "medial"))
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
