"""Whole-pipeline benchmark: `nvseg run` on a 512 x 512 x 300 head CT at 0.5 mm (a head phantom).

Prints a per-stage table (read, localise, segment, postprocess, geometry, write, total: seconds) and
the peak resident memory of the process that ran the case, plus the NV found against the phantom's
truth. Targets (issue "whole-head inference pipeline"): total <= 30 s (goal 20 s) and peak RSS
<= 3 GB on 2 CPU cores; on a GPU, goal <= 2 s. Also the ratio of the case's total time to its
read time plus two forward passes of the segmentation network on a 128^3 patch (timed in the same
process after the run; target <= 3, issue "real head CT in any pose"). Peak RSS is read before
that timing. For memory against the scan's size see bench_memory.py.

    .venv/bin/python benchmarks/bench_pipeline.py [--device cpu|cuda|auto] [--seed N] [--repeat K]

The phantom (head field of view, mouth closed) is generated at 0.5 x 0.5 x 1 mm and resampled onto
512 x 512 x 300 voxels at 0.5 mm, so the pipeline sees a full-size CT. Each repeat runs in a fresh process so
that its peak RSS is its own.
"""

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SIZE = (512, 512, 300)
SPACING_MM = 0.5


def make_case(folder, seed):
    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.phantom import make_phantom

    # the phantom is drawn at 0.5 x 0.5 x 1 mm (its voxel budget), then resampled (linear) onto a
    # 512 x 512 x 300 grid at 0.5 mm centred on it; beyond its field of view the edge values are
    # repeated (air around the head in-plane, the cut anatomy above and below, never a fake
    # skull top)
    ph = make_phantom("head", seed=seed, fov="head", mouth="closed", spacing=(0.5, 0.5, 1.0))
    src = ph.ct
    centre = src.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in src.GetSize()])
    ref = sitk.Image(list(SIZE), sitk.sitkInt16)
    ref.SetSpacing((SPACING_MM,) * 3)
    ref.SetDirection(src.GetDirection())
    ref.SetOrigin([0.0, 0.0, 0.0])
    offset = ref.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in SIZE])
    ref.SetOrigin([c - o for c, o in zip(centre, offset)])
    ct = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkInt16,
                       True)  # useNearestNeighborExtrapolator
    path = os.path.join(folder, "head512.nii.gz")
    sitk.WriteImage(ct, path)
    with open(os.path.join(folder, "truth.json"), "w") as f:
        json.dump(ph.truth, f)
    return path, ct.GetSize()


def run_one(path, out, device):
    """Child process: run the case through the CLI, print timings and peak RSS as JSON."""
    from NegativeVolumeSegmentationLib import cli

    t0 = time.perf_counter()
    code = cli.main(["run", path, "-o", out, "--device", device])
    wall = time.perf_counter() - t0
    case = os.path.basename(path).split(".")[0]
    rep_path = os.path.join(out, case, "report.json")
    rep = json.load(open(rep_path)) if os.path.exists(rep_path) else None
    peak = peak_rss_mb()
    print(json.dumps({"exit": code, "wall": wall, "report": rep, "peak_rss_mb": peak,
                      "forward_128_s": forward_seconds(device)}))


def forward_seconds(device, size=128):
    """Seconds of one forward pass of the bundled segmentation network on a size^3 patch (the
    best of three after a warm-up), on ``device``."""
    import torch

    from NegativeVolumeSegmentationLib.inference.device import choose_device
    from NegativeVolumeSegmentationLib.inference.models import load_models

    choice = choose_device(device)
    net = load_models().to(choice.device).segmentation[0]
    x = torch.zeros((1, 1, size, size, size), device=choice.device)
    best = float("inf")
    with torch.no_grad():
        for k in range(4):
            t0 = time.perf_counter()
            net(x)
            if choice.device.type == "cuda":
                torch.cuda.synchronize()
            if k:
                best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_mb():
    """This process's peak resident memory (MB): VmHWM, which starts afresh at exec (ru_maxrss
    would carry over the parent's peak, e.g. the phantom generation)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("CT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child[0], args.child[1], args.device)
        return
    work = tempfile.mkdtemp(prefix="nvseg-bench-")
    atexit.register(shutil.rmtree, work, True)   # the generated case and outputs go at exit
    t0 = time.perf_counter()
    path, size = make_case(work, args.seed)
    truth = json.load(open(os.path.join(work, "truth.json")))
    print("case: head phantom seed %d, %s voxels at %.1f mm (generated in %.1f s)"
          % (args.seed, "x".join(map(str, size)), SPACING_MM, time.perf_counter() - t0))
    stages = ("read", "localise", "segment", "postprocess", "geometry", "write", "total")
    rows = []
    for k in range(args.repeat):
        out = os.path.join(work, "out%d" % k)
        res = subprocess.run([sys.executable, __file__, "--device", args.device, "--child", path, out],
                             check=True, capture_output=True, text=True)
        data = json.loads(res.stdout.strip().splitlines()[-1])
        if data["report"] is None:
            print("run %d failed (exit %s): %s" % (k, data["exit"], res.stderr.strip()))
            continue
        rows.append(data)
    if not rows:
        sys.exit(1)
    print("\n| run | " + " | ".join(stages) + " | wall s | peak RSS MB | device "
          "| 128^3 forward s | total / (read + 2 forward) |")
    print("|---" * (len(stages) + 6) + "|")
    for k, data in enumerate(rows):
        t = data["report"]["timings_s"]
        ratio = t["total"] / (t["read"] + 2.0 * data["forward_128_s"])
        print("| %d | " % k + " | ".join("%.2f" % t.get(s, float("nan")) for s in stages)
              + " | %.2f | %.0f | %s | %.2f | %.2f |" % (
                  data["wall"], data["peak_rss_mb"], data["report"]["device"],
                  data["forward_128_s"], ratio))
    print("target: total / (read + 2 forward) <= 3 (issue 'real head CT in any pose')")
    rep = rows[-1]["report"]
    print("\n| side | NV mm3 | truth NV mm3 | error % | condyle mm3 | truth condyle mm3 |")
    print("|---|---|---|---|---|---|")
    for side in ("left", "right"):
        m, t = rep.get(side), truth.get(side)
        if m is None or t is None:
            print("| %s | %s | %s | | | |" % (side, m and m["negative_volume_mm3"],
                                            t and t["negative_volume_mm3"]))
            continue
        err = 100.0 * (m["negative_volume_mm3"] / t["negative_volume_mm3"] - 1.0)
        print("| %s | %.0f | %.0f | %+.1f | %.0f | %.0f |" % (
            side, m["negative_volume_mm3"], t["negative_volume_mm3"], err,
            m["condyle_volume_mm3"], t["condyle_volume_mm3"]))
    if rep.get("warnings"):
        print("warnings: " + "; ".join(rep["warnings"]))


if __name__ == "__main__":
    main()
