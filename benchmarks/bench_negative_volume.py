"""Time the negative-volume engine stage by stage on a 128^3 joint ROI at 0.3 mm and 0.2 mm.

    .venv/bin/python benchmarks/bench_negative_volume.py [--repeat N] [--profile] [--locators]

The ROI is cut from the analytic phantom (one joint: sphere condyle r = 7 mm under a concentric
fossa cap, joint space 2.5 mm, half-angle 70 degrees; or the ellipsoid variant) and holds the whole
joint. Stages: ``surfaces`` (MC + TB meshes), ``inflation`` (rays), ``nv_mask`` (voxel mask),
``engine`` (the three), and ``total`` (measure_negative_volume: checks, ROI crop, stages, NV mesh,
merged labels). Median of ``--repeat`` runs; prints vertex counts and the NV error against the
analytic truth. A second table keeps the voxel size (0.3 mm) and grows the condyle (radius 5, 7,
10 mm): it shows how the engine scales with the number of surface vertices at a fixed grid (at a
finer grid the NV holds more voxels per vertex, ~1/spacing^3 against ~1/spacing^2, which the
``us/NV vox`` column separates). ``--locators`` also times each ray caster (the engine's numpy
one and VTK's cell locators); ``--profile`` prints the top cProfile entries of one full run.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib.engine import inflate, nv_mask, surfaces  # noqa: E402
from NegativeVolumeSegmentationLib.engine.measure import (  # noqa: E402
    TB_SMOOTHING, measure_negative_volume)
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom  # noqa: E402

ROI_VOXELS = 128


def joint_roi(spacing, variant="sphere", radius=7.0):
    """128^3 label ROI (values 1 and 3 only) centred on the left joint, and its truth NV (mm^3)."""
    geometry = {"condyle_radius_mm": radius} if variant == "sphere" else {
        "semi_axes_mm": [9.0 * radius / 7.0, 4.5 * radius / 7.0, 5.0 * radius / 7.0]}
    ph = make_analytic_phantom(seed=0, variant=variant, spacing=(spacing,) * 3, sides=("left",),
                               joint_space_mm=2.5, cap_half_angle_deg=70.0, **geometry)
    labels = sitk.ConstantPad(ph.labels, [ROI_VOXELS] * 3, [ROI_VOXELS] * 3, 0)
    centre = labels.TransformPhysicalPointToIndex(ph.truth["left"]["condyle_center_lps_mm"])
    start = [int(c) - ROI_VOXELS // 2 for c in centre]
    roi = sitk.RegionOfInterest(labels, [ROI_VOXELS] * 3, start)
    arr = sitk.GetArrayFromImage(roi)
    arr[arr >= 5] = 0
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(roi)
    return out, ph.truth["left"]["negative_volume_mm3"]


def stages(roi, locator=inflate.DEFAULT_LOCATOR):
    """Seconds per stage and vertex counts of one run of the three engine stages on ``roi``."""
    arr = sitk.GetArrayFromImage(roi)
    mc_mask, tb_mask = arr == 1, arr == 3
    t = {}
    t0 = time.perf_counter()
    mc = surfaces.mask_surface(roi == 1)
    tb = surfaces.mask_surface(roi == 3, smoothing=TB_SMOOTHING)
    t["surfaces"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rays = inflate.TemporalBoneRays(tb, locator)
    h, hit = inflate.inflation_lengths(mc, tb, locator=locator, rays=rays)
    t["inflation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    nv = nv_mask.negative_volume_mask(roi, mc_mask, tb_mask, mc, h, hit, rays,
                                          inflate.DEFAULT_MAX_DISTANCE_MM)
    t["nv_mask"] = time.perf_counter() - t0
    t["engine"] = t["surfaces"] + t["inflation"] + t["nv_mask"]
    counts = {"mc_vertices": mc.GetNumberOfPoints(), "tb_vertices": tb.GetNumberOfPoints(),
              "rays_hit": int(hit.sum()), "nv_voxels": int(nv.sum())}
    return t, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variant", choices=("sphere", "ellipsoid"), default="sphere")
    parser.add_argument("--spacings", type=float, nargs="+", default=[0.3, 0.2])
    parser.add_argument("--radii", type=float, nargs="+", default=[5.0, 7.0, 10.0],
                        help="condyle radii (mm) of the fixed-grid scaling table")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--locators", action="store_true")
    args = parser.parse_args(argv)

    print("Stages (s, median of %d) on a 128^3 ROI, condyle radius 7 mm" % args.repeat)
    print("%-8s %9s %9s %9s %9s %9s %8s %8s %8s %8s %9s %8s" % (
        "spacing", "surfaces", "inflation", "nv_mask", "engine", "total", "MC vert", "TB vert",
        "hits", "NV vox", "us/NV vox", "NV err%"))
    for spacing in args.spacings:
        roi, truth = joint_roi(spacing, args.variant)
        runs, totals = [], []
        for _ in range(args.repeat):
            t, counts = stages(roi)
            runs.append(t)
            t0 = time.perf_counter()
            res = measure_negative_volume(roi)
            totals.append(time.perf_counter() - t0)
        med = dict((k, float(np.median([r[k] for r in runs]))) for k in runs[0])
        err = 100.0 * (res.sides["left"]["negative_volume_mm3"] / truth - 1.0)
        print("%-8s %9.3f %9.3f %9.3f %9.3f %9.3f %8d %8d %8d %8d %9.2f %8.2f" % (
            "%.2f mm" % spacing, med["surfaces"], med["inflation"], med["nv_mask"],
            med["engine"], float(np.median(totals)), counts["mc_vertices"],
            counts["tb_vertices"], counts["rays_hit"], counts["nv_voxels"],
            1e6 * med["nv_mask"] / max(counts["nv_voxels"], 1), err))
        if args.locators:
            for kind in inflate.LOCATOR_KINDS:
                secs = [stages(roi, kind)[0]["inflation"] for _ in range(args.repeat)]
                print("    locator %-6s inflation %.3f s" % (kind, float(np.median(secs))))
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            measure_negative_volume(roi)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(18)

    scaling(args)


def scaling(args):
    """Engine time against the number of MC vertices at a fixed 0.3 mm grid."""
    print()
    print("Scaling at a fixed 0.3 mm grid (s, median of %d): engine time per 1000 MC vertices" %
          args.repeat)
    print("%-8s %8s %9s %9s %9s %9s %12s %8s" % ("radius", "MC vert", "surfaces", "inflation",
                                                  "nv_mask", "engine", "ms/1000 vert", "NV err%"))
    for radius in args.radii:
        roi, truth = joint_roi(0.3, args.variant, radius)
        runs = [stages(roi) for _ in range(args.repeat)]
        med = dict((k, float(np.median([r[0][k] for r in runs]))) for k in runs[0][0])
        counts = runs[0][1]
        nv_mm3 = counts["nv_voxels"] * 0.3 ** 3
        print("%-8s %8d %9.3f %9.3f %9.3f %9.3f %12.1f %8.2f" % (
            "%.0f mm" % radius, counts["mc_vertices"], med["surfaces"], med["inflation"],
            med["nv_mask"], med["engine"], 1e6 * med["engine"] / counts["mc_vertices"],
            100.0 * (nv_mm3 / truth - 1.0)))


if __name__ == "__main__":
    main()
