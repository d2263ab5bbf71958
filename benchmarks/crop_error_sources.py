"""Which part of the engine carries its error on fine (<= 0.5 mm) grids: condyle normals or rays?

    .venv/bin/python benchmarks/crop_error_sources.py [--seeds 0 1 ... 11] [--grid 0.5x0.5x0.5]

For each seed, the CBCT-like crop of one joint (the left for even seeds, the right for odd; mouth
closed) is generated on ``--grid`` (mm, x y z; clinical grids such as 0.6x0.6x2 are measured on
the engine's 0.3 mm grid of shape-interpolated masks, docs/method.md) and measured from its true labels with its CT
(`pipeline.measure_labels`, as `nvseg negative-volume --ct`) four times: the engine as it is;
with the condyle mesh's point normals replaced by the exact normals of the implicit condyle at
its vertices; with every ray against the temporal bone (the vertices' rays and the contact rim's
own rays of the NV test) cast against the exact implicit bone instead of its mesh, from the
engine's own starts and directions (first entry, the ear canal's air stops it, no grazing rule:
as the truth); and with both. The exact geometry is the phantom's own
(:class:`NegativeVolumeSegmentationLib.phantom.exact_joint.ExactJoint`), the truth it is compared
with truth.json's NV, computed from that geometry independently of the engine. What a swap takes
away is what that part of the engine costs (docs/method.md, "Where that last percent lies").
The swaps patch two engine functions for the run; prints a table; asserts nothing.
"""

import argparse
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

from vtkmodules.util import numpy_support  # noqa: E402

from NegativeVolumeSegmentationLib import RunOptions, pipeline  # noqa: E402
from NegativeVolumeSegmentationLib.engine import inflate, measure, surfaces  # noqa: E402
from NegativeVolumeSegmentationLib.phantom import make_phantom  # noqa: E402

from clinical_grids import grid_of  # noqa: E402  (benchmarks/ is the script's own folder)

VARIANTS = (("engine", False, False), ("exact condyle normals", True, False),
            ("exact temporal-bone rays", False, True), ("both exact", True, True))


class ExactBoneRays(object):
    """Stands in for :class:`inflate.TemporalBoneRays`: the same ``lengths`` call, answered by
    the phantom's exact temporal bone."""

    kind = inflate.NUMPY_LOCATOR

    def __init__(self, exact):
        self.exact = exact

    def lengths(self, starts, directions, max_distance, candidates=None):
        starts = np.asarray(starts, float).reshape(-1, 3)
        directions = np.asarray(directions, float).reshape(-1, 3)
        h, hit = np.zeros(len(starts)), np.zeros(len(starts), bool)
        todo = np.arange(len(starts)) if candidates is None else np.asarray(candidates, np.int64)
        if len(todo):
            h[todo], hit[todo] = self.exact.bone_ray_lengths(
                starts[todo] + inflate.RAY_START_MM * directions[todo], directions[todo],
                max_distance - inflate.RAY_START_MM)
            h[todo] = np.where(hit[todo], h[todo] + inflate.RAY_START_MM, 0.0)
        return h, hit


@contextlib.contextmanager
def swapped(exact, normals, rays):
    """The engine with its condyle normals and / or temporal-bone rays swapped for ``exact``'s
    (:class:`ExactJoint`) while the block runs."""
    bone_surfaces, bone_rays = measure._bone_surfaces, inflate.TemporalBoneRays

    def exact_normals(roi_img, mc_mask, tb_mask):
        mc_poly, tb_poly = bone_surfaces(roi_img, mc_mask, tb_mask)
        n = exact.condyle_normals(surfaces.points(mc_poly))
        arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(n, np.float32), deep=True)
        arr.SetName("Normals")
        mc_poly.GetPointData().SetNormals(arr)
        return mc_poly, tb_poly

    try:
        if normals:
            measure._bone_surfaces = exact_normals
        if rays:
            inflate.TemporalBoneRays = lambda tb_poly, locator=None: ExactBoneRays(exact)
        yield
    finally:
        measure._bone_surfaces, inflate.TemporalBoneRays = bone_surfaces, bone_rays


def row_for(seed, grid):
    side = "left" if seed % 2 == 0 else "right"
    phantom = make_phantom("head", seed=seed, fov="cbct-" + side, mouth="closed",
                           spacing=tuple(grid))
    truth = phantom.truth[side]["negative_volume_mm3"]
    errors = []
    for _, normals, rays in VARIANTS:
        with swapped(phantom.exact[side], normals, rays):
            report = pipeline.measure_labels(phantom.labels, RunOptions(device="cpu"),
                                             ct=phantom.ct).report
        nv = report[side]["negative_volume_mm3"] if report.get(side) else None
        errors.append(None if nv is None else 100.0 * (nv / truth - 1.0))
    return side, truth, errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    parser.add_argument("--grid", type=grid_of, default=(0.5, 0.5, 0.5), help="voxel, mm, XxYxZ")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print("CBCT-like crops at %s mm, from true labels with the CT; NV against truth.json, %%"
          % "x".join("%g" % v for v in args.grid))
    print("| seed | side | truth mm3 | %s |" % " | ".join(name for name, _, _ in VARIANTS))
    print("|---|---|---|%s" % ("---|" * len(VARIANTS)))
    columns = [[] for _ in VARIANTS]
    for seed in args.seeds:
        side, truth, errors = row_for(seed, args.grid)
        for column, error in zip(columns, errors):
            if error is not None:
                column.append(error)
        print("| %d | %s | %.0f | %s |" % (seed, side, truth, " | ".join(
            "-" if e is None else "%+.2f" % e for e in errors)), flush=True)
    for label, stat in (("mean", np.mean), ("min", np.min), ("max", np.max)):
        print("| %s | | | %s |" % (label, " | ".join(
            "%+.2f" % stat(c) if c else "-" for c in columns)))
    print("| within 2 %% | | | %s |" % " | ".join(
        "%d of %d" % (int(np.sum(np.abs(c) <= 2.0)), len(c)) for c in columns))
    print("%.0f s" % (time.perf_counter() - start))


if __name__ == "__main__":
    main()
