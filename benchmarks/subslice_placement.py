"""The same head with its slices placed elsewhere: how far the NV moves (clinical CT grids).

    .venv/bin/python benchmarks/subslice_placement.py [--seeds 100010 100012 100015]
        [--grids 0.6x0.6x2 0.8x0.8x1.5] [--placements 4] [--no-in-plane] [--no-end-to-end]
        [--cache runs/subslice-placement] [--models DIR]

A scanner places its slices wherever the patient lies. Each whole-head, closed-mouth phantom
(seeds no model trained on) is generated on each grid several times with its voxel grid moved
under the same head (``make_phantom(..., grid_shift_mm=...)``): by k/N of the slice spacing along
z (k = 0 .. N-1) and, unless --no-in-plane, by half a pixel in x, in y. The truth
(truth.json's ``negative_volume_mm3``, from the implicit geometry) is the same for every
placement. Per placement and joint three numbers are compared with it:

- ``sampled``: the phantom's own NV label (the exact NV region at the CT's voxel centres, no
  surfaces): what counting a 2-3 mm shell on those voxels alone costs;
- ``true labels``: the engine on the true binary labels with the CT (``pipeline.measure_labels``,
  as ``nvseg negative-volume --ct``): surfaces by shape-based interpolation;
- ``end to end``: ``pipeline.run_case`` (localiser, segmentation, engine on the network's
  probabilities, as ``nvseg run``), which sees the CT's partial volume.

Prints one row per placement and joint, then per grid, route and joint the mean, the range and
its width over the placements, and how many placements lie within 3 % and 5 %.
"""

import argparse
import json
import os
import sys

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib import RunOptions, load_models, pipeline  # noqa: E402
from NegativeVolumeSegmentationLib.labels import NEGATIVE_VOLUME  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom, write_phantom  # noqa: E402

ROUTES = ("sampled", "true labels", "end to end")


def grid_of(text):
    values = tuple(float(v) for v in text.lower().split("x"))
    if len(values) != 3:
        raise argparse.ArgumentTypeError("a grid is SXxSYxSZ in mm, e.g. 0.6x0.6x2")
    return values


def placements(grid, count, in_plane):
    """Grid shifts (x, y, z mm): k/count of the slice along z, then half a pixel in x and y."""
    out = [(0.0, 0.0, grid[2] * k / float(count)) for k in range(count)]
    if in_plane:
        out += [(0.5 * grid[0], 0.0, 0.0), (0.0, 0.5 * grid[1], 0.0)]
    return out


def phantom_folder(cache, seed, grid, shift):
    folder = os.path.join(cache, "seed-%d-%s-shift-%s" % (
        seed, "x".join("%g" % v for v in grid), "_".join("%g" % v for v in shift)))
    if not os.path.exists(os.path.join(folder, "truth.json")):
        write_phantom(make_phantom("head", seed, fov="head", mouth="closed", spacing=grid,
                                   grid_shift_mm=shift), folder)
    return folder


def sampled_nv(folder):
    """{side: mm³} of the phantom's NV label (exact region at the voxel centres)."""
    image = sitk.ReadImage(os.path.join(folder, "labels.nii.gz"))
    array = sitk.GetArrayViewFromImage(image)
    voxel = float(np.prod(image.GetSpacing()))
    return dict((side, float((array == value).sum()) * voxel)
                for side, value in NEGATIVE_VOLUME.items())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100010, 100012, 100015])
    parser.add_argument("--grids", type=grid_of, nargs="+",
                        default=[(0.6, 0.6, 2.0), (0.8, 0.8, 1.5)])
    parser.add_argument("--placements", type=int, default=4,
                        help="slice positions per grid: k/N of the slice spacing (default 4)")
    parser.add_argument("--no-in-plane", action="store_true",
                        help="leave out the half-pixel shifts in x and in y")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the networks")
    parser.add_argument("--cache", default=os.path.join("runs", "subslice-placement"))
    parser.add_argument("--models", default=None, help="model folder (default: the bundled one)")
    args = parser.parse_args(argv)
    options = RunOptions(device="cpu")
    routes = ROUTES[:2] if args.no_end_to_end else ROUTES
    models = None if args.no_end_to_end else load_models(args.models, device="cpu")
    errors = {}   # (grid, seed, side, route) -> [% per placement]
    print("| grid mm | seed | shift x y z mm | side | truth mm3 | %s |" % " | ".join(
        "%s %%" % r for r in routes))
    print("|---|---|---|---|---|%s" % ("---|" * len(routes)))
    for grid in args.grids:
        for seed in args.seeds:
            for shift in placements(grid, args.placements, not args.no_in_plane):
                folder = phantom_folder(args.cache, seed, grid, shift)
                with open(os.path.join(folder, "truth.json")) as stream:
                    truth = json.load(stream)
                ct = os.path.join(folder, "ct.nii.gz")
                values = {"sampled": sampled_nv(folder)}
                report = pipeline.measure_labels(os.path.join(folder, "labels.nii.gz"), options,
                                                 ct=ct).report
                values["true labels"] = dict((s, (report.get(s) or {}).get("negative_volume_mm3"))
                                             for s in ("left", "right"))
                if models is not None:
                    report = pipeline.run_case(ct, models, options).report
                    values["end to end"] = dict(
                        (s, (report.get(s) or {}).get("negative_volume_mm3"))
                        for s in ("left", "right"))
                for side in ("left", "right"):
                    if truth[side] is None:
                        continue
                    t = truth[side]["negative_volume_mm3"]
                    cells = []
                    for route in routes:
                        v = values[route][side]
                        e = None if v is None else 100.0 * (v / t - 1.0)
                        errors.setdefault((grid, seed, side, route), []).append(e)
                        cells.append("not measurable" if e is None else "%+.1f" % e)
                    print("| %s | %d | %s | %s | %.0f | %s |" % (
                        "x".join("%g" % v for v in grid), seed,
                        " ".join("%.3g" % v for v in shift), side, t, " | ".join(cells)),
                        flush=True)
    print()
    print("| grid mm | route | seed | side | mean % | range % | width (points) | within 3 % |"
          " within 5 % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for grid in args.grids:
        for route in routes:
            for seed in args.seeds:
                for side in ("left", "right"):
                    found = errors.get((grid, seed, side, route))
                    if not found:
                        continue
                    e = np.array([v for v in found if v is not None])
                    missing = len(found) - e.size
                    if e.size == 0:
                        continue
                    print("| %s | %s | %d | %s | %+.1f | %+.1f .. %+.1f | %.1f | %d of %d%s |"
                          " %d |" % ("x".join("%g" % v for v in grid), route, seed, side,
                                     e.mean(), e.min(), e.max(), e.max() - e.min(),
                                     int((np.abs(e) <= 3).sum()), len(found),
                                     " (%d not measurable)" % missing if missing else "",
                                     int((np.abs(e) <= 5).sum())))


if __name__ == "__main__":
    main()
