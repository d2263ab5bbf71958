"""Negative volume on real anatomy: the dental CBCT label map and the VHF head CT.

Not part of the library. Run from the repository root with the project venv::

    nvseg run ../shared/data/real/vhf_head.nii.gz -o /tmp/vhf      # once, for the VHF figure
    python docs/scripts/real_anatomy_nv.py [--vhf /tmp/vhf/vhf_head] [--mode bounded]

writes docs/real_anatomy_nv.png (dental CBCT labels) and docs/real_head_ct_nv.png (VHF head CT, its own
pipeline labels re-measured with ``measure_labels``), and prints the numbers and the leak
statistics used in docs/method.md ("Negative volume on real anatomy"; with ``--mode bounded``
the ``*_bounded.png`` figures of "Bounded joint space").

The MC/TB labels of the dental CBCT label map (and how its orientation was checked) come from
NegativeVolumeSegmentationLib/training/real_shapes.py, which the training data uses too.
"""

import argparse
import json
import os
import sys

import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

SHARED_REAL = os.path.join(ROOT, "..", "shared", "data", "real")
DENTAL = os.path.join(SHARED_REAL, "dental_cbct_labels.nii.gz")
VHF = os.path.join(SHARED_REAL, "vhf_head.nii.gz")

from NegativeVolumeSegmentationLib.training.real_shapes import build_labels  # noqa: E402


def mirrored(labels):
    """The MC/TB label map flipped along its array x axis with its geometry kept: a mirror-image
    head whose left joint is the original's right one (labels 1<->2 and 3<->4 swapped with it).
    Used by the engine's mirror tests and benchmarks/mirror_image.py."""
    arr = sitk.GetArrayFromImage(labels)[:, :, ::-1]
    swapped = arr.copy()
    for a, b in ((1, 2), (3, 4)):
        swapped[arr == a] = b
        swapped[arr == b] = a
    out = sitk.GetImageFromArray(swapped)
    out.CopyInformation(labels)
    return out


def measure(labels, ct=None, mode="confined"):
    from NegativeVolumeSegmentationLib.options import RunOptions
    from NegativeVolumeSegmentationLib.pipeline import measure_labels

    return measure_labels(labels, RunOptions(mode=mode), ct=ct)


def measure_ungated(labels, ct=None, mode="bounded"):
    """The engine alone, without the pipeline's quality gate (which withholds mode bounded on
    grids coarser than 0.5 mm): for looking at where the bounded NV lies on the 1 mm VHF."""
    import types

    from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume

    res = measure_negative_volume(labels, mode=mode, ct=ct)
    report = dict(res.sides)
    report["quality"] = {s: {"measurable": res.sides[s] is not None} for s in ("left", "right")}
    return types.SimpleNamespace(report=report, labels=res.labels)


# ----------------------------------------------------------------------------------- leaks
def leak_statistics(result, side):
    """Where the NV of one side lies relative to its condylar head and fossa (LPS mm).

    Head = MC voxels in the top 10 mm. Fossa rim in the condyle's sagittal slab (|x - cx| <= 1 mm):
    for each y, the lowest TB voxel among those no more than 12 mm below the condyle top; the
    articular eminence crest = the lowest such point anterior of the head (up to 20 mm), the
    postglenoid tip = the lowest posterior of it (up to 12 mm)."""
    mc_value, tb_value, nv_value = (1, 3, 5) if side == "left" else (2, 4, 6)
    img = result.labels
    arr = sitk.GetArrayViewFromImage(img)
    sp = np.array(img.GetSpacing())
    org = np.array(img.GetOrigin())
    m = np.reshape(img.GetDirection(), (3, 3))

    def points(mask):
        idx = np.argwhere(mask)[:, ::-1].astype(float)     # x, y, z index
        return (idx * sp) @ m.T + org

    mc, tb, nv = points(arr == mc_value), points(arr == tb_value), points(arr == nv_value)
    if len(nv) == 0:
        return None
    voxel = float(np.prod(sp))
    top = mc[:, 2].max()
    head = mc[mc[:, 2] >= top - 10.0]
    cx, cy = head[:, 0].mean(), head[:, 1].mean()
    (x0, y0), (x1, y1) = head[:, :2].min(0), head[:, :2].max(0)
    slab = tb[(np.abs(tb[:, 0] - cx) <= 1.0) & (tb[:, 2] >= top - 12.0)]
    profile = {}
    for p in slab:
        key = round(p[1] / sp[1])
        profile[key] = min(profile.get(key, np.inf), p[2])
    ys = np.array(sorted(profile)) * sp[1]
    zs = np.array([profile[k] for k in sorted(profile)])
    ant = (ys < y0) & (ys >= y0 - 20.0)
    post = (ys > y1) & (ys <= y1 + 12.0)
    eminence = float(zs[ant].min()) if ant.any() else None
    postglenoid = float(zs[post].min()) if post.any() else None
    lateral_sign = 1.0 if side == "left" else -1.0           # lateral = away from the midline
    lat_pole = x1 if side == "left" else x0
    med_pole = x0 if side == "left" else x1

    def frac(mask):
        return {"fraction": round(float(mask.mean()), 3),
                "mm3": round(float(mask.sum()) * voxel, 1)}

    stats = {
        "nv_mm3": round(len(nv) * voxel, 1),
        "condyle_top_z": round(float(top), 1),
        "eminence_crest_z": None if eminence is None else round(eminence - top, 1),
        "postglenoid_tip_z": None if postglenoid is None else round(postglenoid - top, 1),
        "anterior_gt5mm_of_head": frac(nv[:, 1] < y0 - 5.0),
        "posterior_gt5mm_of_head": frac(nv[:, 1] > y1 + 5.0),
        "lateral_gt3mm_of_pole": frac(lateral_sign * (nv[:, 0] - lat_pole) > 3.0),
        "medial_gt3mm_of_pole": frac(lateral_sign * (med_pole - nv[:, 0]) > 3.0),
        "below_top_minus_10mm": frac(nv[:, 2] < top - 10.0),
    }
    rim_low = [v for v in (eminence, postglenoid) if v is not None]
    if rim_low:
        stats["below_lowest_rim_point"] = frac(nv[:, 2] < min(rim_low))
    if eminence is not None:
        stats["anterior_and_below_eminence"] = frac((nv[:, 1] < y0) & (nv[:, 2] < eminence))
    if postglenoid is not None:
        stats["posterior_and_below_postglenoid"] = frac((nv[:, 1] > y1)
                                                        & (nv[:, 2] < postglenoid))
    return stats


# ----------------------------------------------------------------------------------- figure
def figure(result, path, title, background=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = result.labels
    arr = sitk.GetArrayFromImage(img)
    assert np.allclose(np.reshape(img.GetDirection(), (3, 3)), np.eye(3))
    sp = np.array(img.GetSpacing())
    org = np.array(img.GetOrigin())
    bg = None if background is None else sitk.GetArrayFromImage(background)
    fig, axes = plt.subplots(2, 3, figsize=(17, 11),
                             gridspec_kw={"width_ratios": [1, 1, 0.75]})
    half = 25.0
    for row, side in enumerate(("left", "right")):
        values = result.report.get(side)
        center = (values or result.report["quality"][side]).get("condyle_center_lps_mm")
        mc_v, tb_v, nv_v = (1, 3, 5) if side == "left" else (2, 4, 6)
        ci = np.round((np.array(center) - org) / sp).astype(int)          # x, y, z index
        for col, (name, take, h_axis, h_label) in enumerate((
                ("sagittal (x = %.1f mm)" % center[0], lambda a: a[:, :, ci[0]], 1,
                 "LPS y mm (anterior <-, -> posterior)"),
                ("coronal (y = %.1f mm)" % center[1], lambda a: a[:, ci[1], :], 0,
                 "LPS x mm (patient's right <-, -> left)"))):
            ax = axes[row, col]
            sl = take(arr)
            h = org[h_axis] + np.arange(sl.shape[1]) * sp[h_axis]
            v = org[2] + np.arange(sl.shape[0]) * sp[2]
            ext = (h[0] - sp[h_axis] / 2, h[-1] + sp[h_axis] / 2, v[0] - sp[2] / 2,
                   v[-1] + sp[2] / 2)
            if bg is not None:
                ax.imshow(take(bg), cmap="gray", vmin=-600, vmax=1600, origin="lower",
                          extent=ext, interpolation="nearest")
            else:
                grey = np.where(np.isin(sl, (1, 2, 3, 4)), 0.75, 0.1)
                ax.imshow(grey, cmap="gray", vmin=0, vmax=1, origin="lower", extent=ext,
                          interpolation="nearest")
            for value, colour in ((mc_v, "gold"), (tb_v, "deepskyblue"), (nv_v, "lime")):
                mask = (sl == value).astype(float)
                if mask.any():
                    ax.contour(h, v, mask, levels=[0.5], colors=[colour], linewidths=1.3)
                    if value == nv_v:
                        ax.contourf(h, v, mask, levels=[0.5, 1.5], colors=["lime"],
                                    alpha=0.25)
            ax.set_xlim(center[h_axis] - half, center[h_axis] + half)
            ax.set_ylim(center[2] - 20, center[2] + 20)
            ax.set_aspect("equal")
            ax.set_xlabel(h_label)
            ax.set_ylabel("LPS z mm (superior ^)")
            ax.set_title("%s joint, %s" % (side, name))
        ax = axes[row, 2]
        ax.axis("off")
        lines = ["%s joint" % side, "MC gold, TB blue, NV green", ""]
        if values:
            for key, label in (("negative_volume_mm3", "NV mm3"),
                               ("condyle_volume_mm3", "condyle mm3"),
                               ("joint_space_min_mm", "min joint space mm"),
                               ("joint_space_mean_mm", "mean joint space mm"),
                               ("joint_space_superior_mm", "Ikeda superior mm"),
                               ("joint_space_anterior_mm", "Ikeda anterior mm"),
                               ("joint_space_posterior_mm", "Ikeda posterior mm"),
                               ("contact_fraction", "contact fraction")):
                val = values.get(key)
                lines.append("%-20s %s" % (label, "-" if val is None else "%.2f" % val))
        else:
            lines.append("not measurable: %s" % result.report["quality"][side]["reason"])
        stats = leak_statistics(result, side)
        if stats:
            lines += ["", "NV outside the joint proper:"]
            for key in ("anterior_gt5mm_of_head", "posterior_gt5mm_of_head",
                        "medial_gt3mm_of_pole", "lateral_gt3mm_of_pole",
                        "below_lowest_rim_point", "below_top_minus_10mm"):
                if key in stats:
                    lines.append("%-24s %4.0f %% (%.0f mm3)" % (
                        key.replace("_", " "), 100 * stats[key]["fraction"], stats[key]["mm3"]))
            lines.append("eminence crest %s mm, postglenoid tip %s mm"
                         % (stats["eminence_crest_z"], stats["postglenoid_tip_z"]))
            lines.append("(heights relative to the condyle top)")
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=9.5,
                transform=ax.transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vhf", default="/tmp/vhf/vhf_head",
                        help="results folder of `nvseg run vhf_head.nii.gz` (labels.nii.gz)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--mode", default="confined", choices=("confined", "bounded"),
                        help="NV definition; bounded writes the figures with a _bounded suffix")
    args = parser.parse_args(argv)
    suffix = "" if args.mode == "confined" else "_" + args.mode
    summary = {}

    labels, tops = build_labels(sitk.ReadImage(DENTAL))
    result = measure(labels, mode=args.mode)
    summary["dental"] = {"condyle_tops_lps_mm": tops, "report": {
        s: result.report[s] for s in ("left", "right")}, "quality": result.report["quality"],
        "leaks": {s: leak_statistics(result, s) for s in ("left", "right")}}
    figure(result, os.path.join(args.out, "real_anatomy_nv%s.png" % suffix),
           "Dental CBCT label map (real anatomy, 0.5 mm): %s NV of measure_labels, no CT"
           % args.mode)

    vhf_labels = sitk.ReadImage(os.path.join(args.vhf, "labels.nii.gz"))
    arr = sitk.GetArrayFromImage(vhf_labels)
    arr[arr > 4] = 0                                   # measure again from MC/TB only
    given = sitk.GetImageFromArray(arr)
    given.CopyInformation(vhf_labels)
    ct = sitk.ReadImage(VHF)
    if ct.GetSize() != given.GetSize():  # nvseg run writes the labels on its 0.3 mm grid
        ct = sitk.Resample(ct, given, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkInt16)
    if args.mode == "bounded":  # the pipeline's gate withholds it on the 1 mm CT; the engine
        vresult = measure_ungated(given, ct=ct, mode=args.mode)
    else:
        vresult = measure(given, ct=ct, mode=args.mode)
    summary["vhf"] = {"report": {s: vresult.report[s] for s in ("left", "right")},
                      "leaks": {s: leak_statistics(vresult, s) for s in ("left", "right")}}
    figure(vresult, os.path.join(args.out, "real_head_ct_nv%s.png" % suffix),
           "VHF head CT (1 mm): pipeline labels (0.3 mm grid) re-measured (%s%s) with the CT"
           % (args.mode, ", engine without the gate" if args.mode == "bounded" else ""),
           background=ct)
    for case in summary.values():
        for side in ("left", "right"):
            values = case["report"][side]
            if values:
                values.pop("timings_s", None)
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
