"""Peak memory of `nvseg run` against the size of the scan: the same real head at finer grids.

The head CT (default: ../shared/data/real/vhf_head.nii.gz, 1 mm) is resampled (linear, int16,
as stored) to each isotropic spacing asked and written uncompressed; each case runs `nvseg run`
in a fresh process whose peak resident memory (VmHWM) is read at its end. Target (issue "real
head CT in any pose"): peak <= the CT's own size (as stored) + 1.5 GB, so that a 0.2 mm CBCT
(2.3 G voxels, 4.7 GB of int16) fits in a 24 GB machine. Prints one table row per spacing:
voxels, CT MB, peak RSS MB, budget MB, within budget, wall s, NV left / right mm3.

    .venv/bin/python benchmarks/bench_memory.py [--ct PATH] [--spacings 1.0 0.5 0.4]
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CT = os.path.join(os.path.dirname(ROOT), "shared", "data", "real", "vhf_head.nii.gz")
BUDGET_MB = 1536.0   # allowed above the CT's own size


def make_case(src_path, spacing, folder):
    import SimpleITK as sitk

    src = sitk.ReadImage(src_path)
    size = [int(round(n * s / spacing)) for n, s in zip(src.GetSize(), src.GetSpacing())]
    out = sitk.Resample(src, size, sitk.Transform(), sitk.sitkLinear, src.GetOrigin(),
                        (spacing,) * 3, src.GetDirection(), -1024.0, sitk.sitkInt16)
    path = os.path.join(folder, "head_%gmm.nrrd" % spacing)
    sitk.WriteImage(out, path, useCompression=False)
    return path, out.GetNumberOfPixels(), out.GetNumberOfPixels() * 2 / 2.0 ** 20


def peak_rss_mb():
    """This process's peak resident memory (MB), VmHWM (fresh at exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def run_child(path, out):
    from NegativeVolumeSegmentationLib import cli

    t0 = time.perf_counter()
    code = cli.main(["run", path, "-o", out, "--device", "cpu"])
    case = os.path.basename(path)[:-len(".nrrd")]
    rep_path = os.path.join(out, case, "report.json")
    rep = json.load(open(rep_path)) if os.path.exists(rep_path) else None
    print(json.dumps({"exit": code, "wall": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(),
                      "nv": [rep and rep.get(s) and rep[s]["negative_volume_mm3"]
                             for s in ("left", "right")]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", default=DEFAULT_CT)
    parser.add_argument("--spacings", nargs="+", type=float, default=[1.0, 0.5, 0.4])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return
    if not os.path.exists(args.ct):
        sys.exit("bench_memory: no CT at %s (the ../shared folder is absent?)" % args.ct)
    work = tempfile.mkdtemp(prefix="nvseg-mem-")
    atexit.register(shutil.rmtree, work, True)   # the generated case and outputs go at exit
    print("| spacing mm | voxels M | CT MB | peak RSS MB | budget MB | within | wall s | NV L / R mm3 |")
    print("|---|---|---|---|---|---|---|---|")
    for spacing in args.spacings:
        path, voxels, ct_mb = make_case(args.ct, spacing, work)
        res = subprocess.run([sys.executable, __file__, "--child", path,
                              os.path.join(work, "out")], capture_output=True, text=True)
        data = json.loads(res.stdout.strip().splitlines()[-1])
        budget = ct_mb + BUDGET_MB
        nv = " / ".join("-" if v is None else "%.0f" % v for v in data["nv"])
        print("| %.2f | %.1f | %.0f | %.0f | %.0f | %s | %.1f | %s |" % (
            spacing, voxels / 1e6, ct_mb, data["peak_rss_mb"], budget,
            "yes" if data["peak_rss_mb"] <= budget else "NO", data["wall"], nv))
        os.remove(path)


if __name__ == "__main__":
    main()
