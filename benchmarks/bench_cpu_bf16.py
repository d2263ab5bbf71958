"""Is bfloat16 worth it on CPU? Times the bundled segmentation and localiser networks in float32
and under torch.autocast("cpu", dtype=torch.bfloat16) on their real inputs (a held-out CBCT-like
head phantom: the crop around its left joint, and the whole volume at the localiser's 3 mm) and
compares the outputs (max |probability difference|, voxels whose label changes).

    .venv/bin/python benchmarks/bench_cpu_bf16.py [--repeat N] [--threads T]

The pipeline keeps float32 on CPU unless this table shows bfloat16 both faster and equally
accurate on the machine at hand (issue 5; device.py).
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib.inference import localize, segment
from NegativeVolumeSegmentationLib.inference import models as bundled_models  # noqa: E402
from NegativeVolumeSegmentationLib.inference import crops as joint_crops  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom  # noqa: E402
from NegativeVolumeSegmentationLib.inference.head_grid import (  # noqa: E402
    aligned_grid, shrink_for, smooth_resample)


def inputs(models):
    """{network: (1, 1, z, y, x) float32 tensor}: the real inputs of one held-out phantom."""
    ph = make_phantom("head", seed=100013, fov="cbct-left")
    centre = ph.truth["left"]["condyle_center_lps_mm"]
    meta = models.segmentation[1]
    spacing, crop_mm, offset, _patch = segment.crop_settings(meta)
    crop = segment.joint_crop_ct(ph.ct, joint_crops.crop_centre(centre, "left", offset), "left",
                                 spacing, crop_mm)
    seg = joint_crops.normalise(sitk.GetArrayViewFromImage(crop), meta.get("intensity"))
    meta = models.localizer[1]
    grid = aligned_grid(ph.ct, meta["target_spacing_mm"])
    coarse = smooth_resample(shrink_for(ph.ct, meta["target_spacing_mm"]), grid)
    loc = joint_crops.normalise(sitk.GetArrayViewFromImage(coarse), meta.get("intensity"))
    return {"segmentation": seg, "localizer": loc}


def run(network, x, bf16):
    with torch.no_grad():
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = network(x)
        else:
            out = network(x)
        return torch.softmax(out.float(), dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = bundled_models.load_models(device="cpu")
    arrays = inputs(models)
    print("torch %s, %d threads, bf16 CPU kernels: %s" % (
        torch.__version__, args.threads, torch.backends.mkldnn.is_available()))
    print("%-13s %-14s %10s %10s %8s %14s %12s" % ("network", "input", "fp32 s", "bf16 s",
                                                  "speed-up", "max |dp|", "labels changed"))
    for name, (net, _meta) in (("segmentation", models.segmentation),
                               ("localizer", models.localizer)):
        net.eval()
        shape = arrays[name].shape
        x = torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32))[None, None]
        times = {False: [], True: []}
        outs = {}
        for _ in range(args.repeat):
            for bf16 in (False, True):
                t0 = time.perf_counter()
                outs[bf16] = run(net, x, bf16)
                times[bf16].append(time.perf_counter() - t0)
        fp32, bf16 = float(np.median(times[False])), float(np.median(times[True]))
        diff = float((outs[True] - outs[False]).abs().max())
        changed = int((outs[True].argmax(1) != outs[False].argmax(1)).sum())
        print("%-13s %-14s %10.3f %10.3f %7.2fx %14.4f %14s" % (
            name, "x".join(str(v) for v in shape[::-1]), fp32, bf16, fp32 / bf16, diff,
            "%d of %d" % (changed, int(np.prod(shape)))))


if __name__ == "__main__":
    main()
