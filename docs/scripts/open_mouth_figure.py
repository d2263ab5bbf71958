"""docs/open_mouth.png: the real dental CBCT label map's left condyle in its fossa and glided onto
its eminence (benchmarks/open_mouth.py), sagittal slices through the condylar head with the NV,
the eminence crest and the head's centre the seat check reads, and what the gate says.

Not part of the library. Run from the repository root with the project venv::

    .venv/bin/python docs/scripts/open_mouth_figure.py [--out docs/open_mouth.png]
"""

import argparse
import importlib.util
import os
import sys

import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

GLIDES_MM = (0.0, 8.0, 12.0)
SIDE = "left"


def _benchmark():
    path = os.path.join(ROOT, "benchmarks", "open_mouth.py")
    spec = importlib.util.spec_from_file_location("open_mouth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "open_mouth.png"))
    args = parser.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from NegativeVolumeSegmentationLib.pipeline import measure_labels

    bench = _benchmark()
    labels = bench.dental_labels()
    fig, axes = plt.subplots(1, len(GLIDES_MM), figsize=(6 * len(GLIDES_MM), 6.6))
    centre_x = centre_y = None
    for ax, glide in zip(axes, GLIDES_MM):
        moved = labels if glide == 0 else bench.open_mouth(labels, glide)[0]
        result = measure_labels(moved)
        values = result.report[SIDE]
        bounds = values["joint_bounds"]
        img = result.labels
        assert np.allclose(np.reshape(img.GetDirection(), (3, 3)), np.eye(3))
        sp, org = np.array(img.GetSpacing()), np.array(img.GetOrigin())
        arr = sitk.GetArrayFromImage(img)
        crest = np.array(bounds["eminence_crest_lps_mm"])
        if centre_x is None:   # one sagittal plane for all: through the closed head's crest
            centre_x = crest[0]
        ix = int(round((centre_x - org[0]) / sp[0]))
        sl = arr[:, :, ix]
        y = org[1] + np.arange(sl.shape[1]) * sp[1]
        z = org[2] + np.arange(sl.shape[0]) * sp[2]
        ax.imshow(np.where(np.isin(sl, (1, 2, 3, 4)), 0.75, 0.1), cmap="gray", vmin=0, vmax=1,
                  origin="lower", interpolation="nearest",
                  extent=(y[0] - sp[1] / 2, y[-1] + sp[1] / 2, z[0] - sp[2] / 2,
                          z[-1] + sp[2] / 2))
        for value, colour in ((1, "gold"), (3, "deepskyblue"), (5, "lime")):
            mask = (sl == value).astype(float)
            if mask.any():
                ax.contour(y, z, mask, levels=[0.5], colors=[colour], linewidths=1.3)
                if value == 5:
                    ax.contourf(y, z, mask, levels=[0.5, 1.5], colors=["lime"], alpha=0.3)
        head_y = crest[1] + bounds["head_behind_eminence_mm"]   # frame p ~ LPS y here
        ax.plot([crest[1]], [crest[2]], "r^", ms=10, label="eminence crest E")
        ax.axvline(head_y, color="orange", ls="--", lw=1.2, label="condylar head's centre")
        ax.axvline(crest[1] + 4.0, color="red", ls=":", lw=1.2, label="4 mm behind E")
        if centre_y is None:   # one window for all: around the closed condyle
            centre_y = values["condyle_center_lps_mm"][1]
        ax.set_xlim(centre_y - 22, centre_y + 14)
        ax.set_ylim(crest[2] - 14, crest[2] + 16)
        ax.set_aspect("equal")
        ax.set_xlabel("LPS y mm (anterior <-, -> posterior)")
        ax.set_ylabel("LPS z mm (superior ^)")
        seat = [c for c in result.report["cautions"]
                if c.startswith(SIDE + " side: the condyle is not seated")]
        ax.set_title("glided %g mm: NV %.0f mm3, head %.1f mm behind E\n%s"
                     % (glide, values["negative_volume_mm3"], bounds["head_behind_eminence_mm"],
                        "caution: not seated in its fossa (mouth open?)" if seat
                        else "no caution"), fontsize=11)
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("Real dental CBCT label map, left joint (sagittal, x = %.1f mm): condyle gold, "
                 "temporal bone blue, NV green" % centre_x)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
