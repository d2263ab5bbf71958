"""Real-CT invariance: the whole pipeline on benign variants of one real head CT.

Each variant is built with SimpleITK from the untouched scan (benchmarks/ct_variants.py), its
geometry kept physical, and comes with the known transform that maps a point of the variant
(LPS mm) back onto the same anatomical point of the untouched scan:

- ``mirror``: the array's x axis flipped, origin / spacing / direction kept (a mirror-image head:
  the patient's left joint of the variant is the right joint of the scan, and vice versa);
- ``oblique_*``: the same voxels, the head turned by rotating the direction cosines and origin
  about its centre (no resampling: an oblique acquisition);
- ``rot_*``: the head rotated (tilted) about its centre (centroid of the tissue above -400 HU) by
  10-15 degrees about the LR (x), AP (y) or SI (z) axis, and by 12 degrees about x then -8 about y;
  linear resampling onto a grid of the scan's spacing and direction that covers the rotated head,
  air (-1000 HU) outside;
- ``iso_*`` / ``aniso_*``: linear resampling onto another voxel size over the scan's extent
  (a spacing equal to the scan's own is the identity and is skipped);
- ``stored_*``, ``cropped``, ``noise_40HU``, ``gantry_tilt_15``: the same voxels in another array
  order, with less field of view, with noise added, re-sliced as a gantry-tilted DICOM series;
  ``shift_half_voxel``, ``smooth_*``: the scan's grid moved by half a voxel (linear), the scan
  blurred as by a softer reconstruction kernel (benchmarks/ct_variants.py).

For each variant and side the table gives the condyle centre mapped back into the untouched
scan's frame and its distance from the untouched scan's condyle centre of the same anatomical
side (for ``mirror`` that is the opposite report side), the untouched side nearest to it, NV and
condyle volume with their change against the untouched scan, the minimum joint space, flags
(a joint found by the mirror search, NV asymmetry above 6 %, other warnings) and seconds.
Target (issue "Real head CT in any pose"): both joints at the same anatomical place (<= 3 mm),
NV per side within 5 %, mirror: sides swapped. Prints tables, asserts nothing.

    .venv/bin/python benchmarks/real_ct_invariance.py [CT] [--variants mirror,iso_0.5]
        [--out table.md] [--keep DIR] [--models DIR] [--mode bounded [--lift-bounded-gate]]

One variant is in memory at a time; the bundled models are loaded once (CPU).
"""

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import SimpleITK as sitk

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CT = os.path.join(os.path.dirname(REPO), "shared", "data", "real", "vhf_head.nii.gz")
SIDES = ("left", "right")
TARGET_SHIFT_MM = 3.0
TARGET_NV_PERCENT = 5.0

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct_variants import VARIANTS, build_variant, is_identity  # noqa: E402  (the variants)

# ---------------------------------------------------------------- measuring

def side_values(report, side):
    values = report.get(side) if report else None
    if not values:
        return None
    return {"nv": values["negative_volume_mm3"], "condyle": values["condyle_volume_mm3"],
            "min_js": values["joint_space_min_mm"],
            "centre": np.asarray(values["condyle_center_lps_mm"], dtype=float)}


def flags(report):
    from NegativeVolumeSegmentationLib.options import DEFAULTS
    from NegativeVolumeSegmentationLib.report.report_json import asymmetry_flags

    out = []
    if "negative_volume" in asymmetry_flags(report, DEFAULTS["asymmetry_threshold_percent"]):
        out.append("NV asym %.1f %%" % report["asymmetry_percent"]["negative_volume"])
    for w in report.get("warnings", []):
        if "found by searching around the mirror image" in w:
            out.append("%s found by mirror search" % w.split()[0])
        else:
            out.append(w)
    return out


def percent(value, reference):
    if value is None or reference in (None, 0):
        return None
    return 100.0 * (float(value) / float(reference) - 1.0)


def run_pipeline(image, models, options):
    from NegativeVolumeSegmentationLib.pipeline import run_case

    t0 = time.perf_counter()
    result = run_case(image, models, options, device="cpu")
    seconds = time.perf_counter() - t0
    report = result.report
    del result
    return report, seconds


def rows_for(name, report, seconds, to_original, swapped, reference, error=None):
    """Table rows (dicts), one per report side of the variant."""
    rows = []
    for side in SIDES:
        row = {"variant": name, "side": side, "seconds": seconds, "error": error,
               "flags": flags(report) if report else []}
        same = {"left": "right", "right": "left"}[side] if swapped else side
        row["compared_with"] = same
        ref = side_values(reference, same)
        got = side_values(report, side)
        row["values"] = got
        if got is not None:
            back = np.asarray(to_original.TransformPoint([float(v) for v in got["centre"]]))
            row["centre_back"] = back
            if ref is not None:
                row["shift_mm"] = float(np.linalg.norm(back - ref["centre"]))
                row["nv_change"] = percent(got["nv"], ref["nv"])
                row["condyle_change"] = percent(got["condyle"], ref["condyle"])
            nearest = [(float(np.linalg.norm(back - v["centre"])), s) for s, v in
                       ((s, side_values(reference, s)) for s in SIDES) if v is not None]
            row["nearest"] = min(nearest)[1] if nearest else None
        rows.append(row)
    return rows


def verdict(row):
    if row["error"]:
        return "FAIL (error)"
    if row["values"] is None:
        return "FAIL (no joint)"
    if row.get("shift_mm") is None:
        return "n/a"
    fails = []
    if row["nearest"] != row["compared_with"]:
        fails.append("side")
    if row["shift_mm"] > TARGET_SHIFT_MM:
        fails.append("place")
    if abs(row["nv_change"]) > TARGET_NV_PERCENT:
        fails.append("NV")
    return "FAIL (%s)" % ", ".join(fails) if fails else "ok"


def fmt(value, pattern="%.1f", signed=False):
    if value is None:
        return "-"
    return ("%+.1f" if signed else pattern) % value


def table(rows):
    head = ("| variant | side | vs untouched | centre back in scan (LPS mm) | shift mm | nearest "
            "untouched side | NV mm3 | NV change % | condyle mm3 | condyle change % | min JS mm | "
            "flags | s | target |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        v = r["values"]
        centre = r.get("centre_back")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["variant"], r["side"], r["compared_with"],
            "-" if centre is None else "(%.1f, %.1f, %.1f)" % tuple(centre),
            fmt(r.get("shift_mm")), r.get("nearest") or "-",
            "-" if v is None else "%.0f" % v["nv"], fmt(r.get("nv_change"), signed=True),
            "-" if v is None else "%.0f" % v["condyle"], fmt(r.get("condyle_change"), signed=True),
            "-" if v is None else "%.2f" % v["min_js"],
            "; ".join(r["flags"]) if r["flags"] else (r["error"] or ""),
            fmt(r["seconds"]), verdict(r) if r["variant"] != "untouched" else "reference"))
    return "\n".join(lines)


def git_commit():
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out + (" (working tree modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ct", nargs="?", default=DEFAULT_CT, help="head CT (default: %(default)s)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: %s" % ", ".join(VARIANTS))
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    parser.add_argument("--keep", metavar="DIR", help="keep the variant CTs and reports here")
    parser.add_argument("--models", metavar="DIR",
                        help="model folder (tmj_*.pt + SHA256SUMS; default: the bundled models)")
    parser.add_argument("--mode", default="confined", choices=("confined", "bounded"))
    parser.add_argument("--lift-bounded-gate", action="store_true",
                        help="research: measure mode bounded on grids coarser than 0.5 mm too "
                             "(the quality gate withholds it there)")
    args = parser.parse_args(argv)
    if args.lift_bounded_gate:
        from NegativeVolumeSegmentationLib import quality
        quality.BOUNDED_MAX_MM = float("inf")
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error("unknown variant(s) %s; known: %s" % (", ".join(unknown), ", ".join(VARIANTS)))

    from NegativeVolumeSegmentationLib.inference.models import load_models
    from NegativeVolumeSegmentationLib.options import RunOptions

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    models = load_models(args.models, device="cpu")
    options = RunOptions(mode=args.mode)
    scan = sitk.ReadImage(args.ct)
    print("CT: %s, %s voxels at %s mm; commit %s" % (
        args.ct, "x".join(map(str, scan.GetSize())),
        "x".join("%g" % s for s in scan.GetSpacing()), git_commit()), flush=True)

    reference, seconds = run_pipeline(scan, models, options)
    identity = sitk.TranslationTransform(3)
    rows = rows_for("untouched", reference, seconds, identity, False, reference)
    reports = {"untouched": reference}
    print("untouched: %.1f s" % seconds, flush=True)
    for name in names:
        if is_identity(scan, name):
            print("%s: skipped (the scan's own spacing: the identity)" % name, flush=True)
            continue
        t0 = time.perf_counter()
        variant, to_original, swapped = build_variant(scan, name)
        built = time.perf_counter() - t0
        info = "%s voxels at %s mm" % ("x".join(map(str, variant.GetSize())),
                                       "x".join("%g" % s for s in variant.GetSpacing()))
        if args.keep:
            sitk.WriteImage(variant, os.path.join(args.keep, name + ".nii.gz"))
        try:
            report, seconds = run_pipeline(variant, models, options)
            error = None
        except Exception as exc:  # a benchmark reports a failed variant and goes on
            report, seconds, error = None, None, "%s: %s" % (type(exc).__name__, exc)
        del variant
        gc.collect()
        reports[name] = report
        rows.extend(rows_for(name, report, seconds, to_original, swapped, reference, error))
        print("%s: %s, built in %.1f s, pipeline %s s%s" % (
            name, info, built, fmt(seconds), (" ERROR " + error) if error else ""), flush=True)
        if args.keep and report is not None:
            with open(os.path.join(args.keep, name + ".report.json"), "w") as f:
                json.dump(report, f, indent=1)

    text = table(rows)
    stamp = "%s, commit %s, CT %s" % (datetime.date.today().isoformat(), git_commit(),
                                      os.path.basename(args.ct))
    print("\n" + stamp + "\n\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(stamp + "\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
