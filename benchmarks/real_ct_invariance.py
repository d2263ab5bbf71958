"""Real-CT invariance: the whole pipeline on benign variants of one real head CT.

Each variant is built with SimpleITK from the untouched scan, its geometry kept physical, and
comes with the known transform that maps a point of the variant (LPS mm) back onto the same
anatomical point of the untouched scan:

- ``mirror``: the array's x axis flipped, origin / spacing / direction kept (a mirror-image head:
  the patient's left joint of the variant is the right joint of the scan, and vice versa);
- ``rot_*``: the head rotated (tilted) about its centre (centroid of the tissue above -400 HU) by
  10-15 degrees about the LR (x), AP (y) or SI (z) axis, and by 12 degrees about x then -8 about y;
  linear resampling onto a grid of the scan's spacing and direction that covers the rotated head,
  air (-1000 HU) outside;
- ``iso_*`` / ``aniso_*``: linear resampling onto another voxel size over the scan's extent
  (a spacing equal to the scan's own is the identity and is skipped).

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
import collections
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
HEAD_HU = -400.0       # tissue threshold for the head's centre and extent
AIR_HU = -1000.0       # value outside the untouched scan's field of view
GRID_MARGIN_VOXELS = 3
SIDES = ("left", "right")
TARGET_SHIFT_MM = 3.0
TARGET_NV_PERCENT = 5.0
ASYMMETRY_FLAG_PERCENT = 6.0

# name -> (kind, parameter): rotate degrees (about x, y, z; applied x first, then y, then z),
# resample spacing (mm), stored: the same voxels in another array order (sitk.DICOMOrient code:
# RAS as NIfTI converters write, ASL a sagittal stack; the same physical image), crop: the same
# voxels with a smaller field of view (voxels taken off the low and the high end of each array
# axis x, y, z), noise: Gaussian noise of sigma HU added (seed), a noisier (lower-dose) scan,
# gantry_tilt: the scan re-sliced as a DICOM series on planes tilted by that many degrees about
# the left-right axis (table steps along z) and read back with nvseg's DICOM reader, which
# resamples it onto an orthogonal grid
VARIANTS = collections.OrderedDict([
    ("mirror", ("mirror", None)),
    ("rot_LR_+12", ("rotate", (12.0, 0.0, 0.0))),
    ("rot_AP_+10", ("rotate", (0.0, 10.0, 0.0))),
    ("rot_SI_+15", ("rotate", (0.0, 0.0, 15.0))),
    ("rot_LR+12_AP-8", ("rotate", (12.0, -8.0, 0.0))),
    ("iso_0.5", ("resample", (0.5, 0.5, 0.5))),
    ("iso_0.7", ("resample", (0.7, 0.7, 0.7))),
    ("iso_1.0", ("resample", (1.0, 1.0, 1.0))),
    ("aniso_0.5x0.5x1.5", ("resample", (0.5, 0.5, 1.5))),
    ("stored_RAS", ("stored", "RAS")),
    ("stored_ASL", ("stored", "ASL")),
    ("cropped", ("crop", ((7, 0, 3), (0, 5, 0)))),
    ("noise_40HU", ("noise", (40.0, 1))),
    ("gantry_tilt_15", ("gantry_tilt", 15.0)),
])


# ---------------------------------------------------------------- variant builder (no pipeline)

def direction_matrix(image):
    return np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)


def image_centre(image):
    """Physical centre of the voxel grid (LPS mm)."""
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2.0 for s in image.GetSize()]), dtype=float)


def rotation_matrix(degrees):
    """R = Rz Ry Rx for right-handed rotations about the physical x, y, z axes (degrees)."""
    ax, ay, az = np.radians(np.asarray(degrees, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(matrix, centre):
    """sitk.AffineTransform p -> centre + matrix (p - centre)."""
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in np.asarray(matrix, dtype=float).ravel()])
    t.SetCenter([float(v) for v in centre])
    return t


def head_mask_stats(image):
    """(centroid LPS mm, index bounding box (lo, hi) as int arrays) of the voxels above HEAD_HU."""
    array = sitk.GetArrayViewFromImage(image)         # z, y, x
    mask = array > HEAD_HU
    if not mask.any():
        raise ValueError("no voxel above %.0f HU: no head in the image" % HEAD_HU)
    lo, hi, mean = [], [], []
    for axis in (2, 1, 0):                              # x, y, z in index order
        other = tuple(a for a in range(3) if a != axis)
        counts = mask.sum(axis=other)
        where = np.nonzero(counts)[0]
        lo.append(where[0])
        hi.append(where[-1])
        mean.append(float((counts * np.arange(counts.size)).sum()) / counts.sum())
    centroid = np.asarray(image.TransformContinuousIndexToPhysicalPoint(mean), dtype=float)
    return centroid, np.asarray(lo), np.asarray(hi)


def mirror_variant(image):
    """Array x flipped, geometry kept; to_original reflects across the grid's central plane
    normal to the array x axis."""
    array = sitk.GetArrayFromImage(image)[:, :, ::-1]
    out = sitk.GetImageFromArray(np.ascontiguousarray(array))
    out.CopyInformation(image)
    d = direction_matrix(image)
    to_original = affine(d @ np.diag([-1.0, 1.0, 1.0]) @ d.T, image_centre(image))
    return out, to_original


def rotate_variant(image, degrees, margin=GRID_MARGIN_VOXELS):
    """The head rotated by ``degrees`` about its tissue centroid, on a grid of the scan's spacing
    and direction covering the rotated head (its tissue bounding box) plus ``margin`` voxels."""
    centre, lo, hi = head_mask_stats(image)
    rot = rotation_matrix(degrees)
    d = direction_matrix(image)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    corners = []
    for cx in (lo[0] - 0.5, hi[0] + 0.5):
        for cy in (lo[1] - 0.5, hi[1] + 0.5):
            for cz in (lo[2] - 0.5, hi[2] + 0.5):
                p = np.asarray(image.TransformContinuousIndexToPhysicalPoint([cx, cy, cz]))
                corners.append(d.T @ (centre + rot @ (p - centre)))   # grid-axis coordinates
    corners = np.asarray(corners)
    first = corners.min(axis=0) - margin * spacing
    size = np.ceil((corners.max(axis=0) + margin * spacing - first) / spacing).astype(int)
    ref = sitk.Image([int(s) for s in size], image.GetPixelID())
    ref.SetSpacing([float(s) for s in spacing])
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin([float(v) for v in d @ (first + 0.5 * spacing)])
    to_original = affine(rot.T, centre)     # variant point -> the scan's point
    out = sitk.Resample(image, ref, to_original, sitk.sitkLinear, AIR_HU, image.GetPixelID())
    return out, to_original


def resample_variant(image, spacing):
    """Linear resampling onto ``spacing`` over the scan's extent (voxel edges kept)."""
    old = np.asarray(image.GetSpacing(), dtype=float)
    new = np.asarray(spacing, dtype=float)
    size = np.maximum(1, np.round(np.asarray(image.GetSize()) * old / new)).astype(int)
    d = direction_matrix(image)
    origin = np.asarray(image.GetOrigin(), dtype=float) + d @ (0.5 * (new - old))
    ref = sitk.Image([int(s) for s in size], image.GetPixelID())
    ref.SetSpacing([float(s) for s in new])
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin([float(v) for v in origin])
    to_original = sitk.TranslationTransform(3)      # identity: the geometry is physical
    out = sitk.Resample(image, ref, to_original, sitk.sitkLinear, AIR_HU, image.GetPixelID())
    return out, to_original


def gantry_tilt_variant(image, degrees, step_mm=1.0):
    """The scan as a gantry-tilted CT series: slices of the scan's in-plane size and spacing on
    planes whose column axis is tilted by ``degrees`` about LPS x, one every ``step_mm`` of table
    travel (LPS z) over the whole head, written as DICOM (position, orientation, rescale, gantry
    tilt tags) and read back with the library's reader (the gantry tilt corrected there)."""
    import tempfile

    from NegativeVolumeSegmentationLib.io.ct import read_ct

    t = np.radians(degrees)
    cy, cz = float("%.8f" % np.cos(t)), float("%.8f" % np.sin(t))
    column = np.array([0.0, cy, cz]) / np.hypot(cy, cz)
    d = direction_matrix(image)
    spacing = np.asarray(image.GetSpacing(), float)
    size = np.asarray(image.GetSize(), int)
    lo = np.asarray(image.GetOrigin(), float)
    hi = np.asarray(image.TransformIndexToPhysicalPoint([int(v) - 1 for v in size]), float)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if not np.allclose(d, np.eye(3)):
        raise ValueError("gantry_tilt needs a scan stored in LPS order")
    height = (size[1] - 1) * spacing[1]
    tables = np.arange(lo[2] - height * abs(cz), hi[2] + step_mm, step_mm)
    stamp = time.strftime("%Y%m%d%H%M%S")
    series = "1.2.826.0.1.3680043.2.1125.%s.%d" % (stamp, os.getpid())
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    plane = np.column_stack([[1.0, 0.0, 0.0], column, np.cross([1.0, 0.0, 0.0], column)])
    with tempfile.TemporaryDirectory() as folder:
        for i, z in enumerate(tables):
            ref = sitk.Image([int(size[0]), int(size[1]), 1], sitk.sitkInt16)
            ref.SetSpacing([float(spacing[0]), float(spacing[1]), 1.0])
            ref.SetOrigin([float(lo[0]), float(lo[1]), float(z)])
            ref.SetDirection([float(v) for v in plane.ravel()])
            values = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkLinear, AIR_HU,
                                   sitk.sitkInt16)
            out = sitk.GetImageFromArray(sitk.GetArrayFromImage(values)[0])
            out.SetSpacing([float(spacing[0]), float(spacing[1])])   # the writer's PixelSpacing
            for key, value in (("0008|0060", "CT"), ("0020|000d", series + ".0"),
                               ("0020|000e", series), ("0020|0013", str(i + 1)),
                               ("0020|0032", "%.4f\\%.4f\\%.4f" % (lo[0], lo[1], z)),
                               ("0020|0037", "1\\0\\0\\0\\%.8f\\%.8f" % (cy, cz)),
                               ("0028|0030", "%g\\%g" % (spacing[1], spacing[0])),
                               ("0018|0050", "%g" % step_mm), ("0018|1120", "%g" % degrees),
                               ("0028|1052", "0"), ("0028|1053", "1")):
                out.SetMetaData(key, value)
            writer.SetFileName(os.path.join(folder, "slice%04d.dcm" % i))
            writer.Execute(out)
        corrected, _warnings = read_ct(folder)
    return corrected, sitk.TranslationTransform(3)


def is_identity(image, name):
    kind, parameter = VARIANTS[name]
    return kind == "resample" and np.allclose(image.GetSpacing(), parameter, atol=1e-6)


def build_variant(image, name):
    """(variant image, sitk transform mapping a variant point (LPS mm) to the untouched scan's
    point of the same anatomy, sides swapped: bool)."""
    kind, parameter = VARIANTS[name]
    if kind == "mirror":
        out, t = mirror_variant(image)
        return out, t, True
    if kind == "rotate":
        out, t = rotate_variant(image, parameter)
        return out, t, False
    if kind == "resample":
        out, t = resample_variant(image, parameter)
        return out, t, False
    if kind == "stored":
        return sitk.DICOMOrient(image, parameter), sitk.TranslationTransform(3), False
    if kind == "gantry_tilt":
        out, t = gantry_tilt_variant(image, parameter)
        return out, t, False
    if kind == "noise":
        sigma, seed = parameter
        array = sitk.GetArrayFromImage(image).astype(np.float32)
        array += np.random.default_rng(seed).normal(0.0, sigma, array.shape).astype(np.float32)
        out = sitk.GetImageFromArray(np.clip(np.rint(array), -32768, 32767).astype(np.int16))
        out.CopyInformation(image)
        return out, sitk.TranslationTransform(3), False
    if kind == "crop":
        low, high = parameter
        out = sitk.Crop(image, [int(v) for v in low], [int(v) for v in high])
        return out, sitk.TranslationTransform(3), False
    raise ValueError("unknown variant kind %r" % kind)


# ---------------------------------------------------------------- measuring

def side_values(report, side):
    values = report.get(side) if report else None
    if not values:
        return None
    return {"nv": values["negative_volume_mm3"], "condyle": values["condyle_volume_mm3"],
            "min_js": values["joint_space_min_mm"],
            "centre": np.asarray(values["condyle_center_lps_mm"], dtype=float)}


def flags(report):
    out = []
    asym = (report.get("asymmetry_percent") or {}).get("negative_volume")
    if asym is not None and asym > ASYMMETRY_FLAG_PERCENT:
        out.append("NV asym %.1f %%" % asym)
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
