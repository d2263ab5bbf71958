"""The same real anatomy and its mirror image: how far apart the engine's meshes and NV come out.

    .venv/bin/python benchmarks/mirror_image.py [--labels ../shared/data/real/dental_cbct_labels.nii.gz]
        [--smoothing 0.5 0.39 0]

The dental CBCT label map of ../shared (0.5 mm; its condyles and temporal bones picked by
docs/scripts/real_anatomy_nv.py, as in docs/method.md) is flipped along its array x axis with
its geometry kept: a mirror-image head whose left joint is the original's right one. A
mirror-equivariant engine gives every mesh as the mirror of the original's and swaps the
numbers exactly. Printed:

- per bone (left condyle, left temporal bone) and smoothing factor: the vertex counts; the
  distance from each vertex of the original's mesh to the nearest vertex of the mirrored
  image's mesh mirrored back, and to its nearest surface point (mean, 99th percentile, max;
  mm): vertices can slide along the surface, surfaces can move apart; the enclosed volumes;
- per mode (confined, bounded): NV left / right of the original and how far the mirror image's
  swapped sides read from them (%).

docs/method.md ("Where the mirror image differs"): unsmoothed meshes are exact mirrors; the
smoothing averages over flying edges' triangulation, which splits each four-sided cell polygon
along one diagonal that the mirror image does not mirror.
"""

import argparse
import importlib.util
import os
import sys

import numpy as np
import SimpleITK as sitk
from scipy.spatial import cKDTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib.engine import surfaces  # noqa: E402

DEFAULT_LABELS = os.path.join(os.path.dirname(ROOT), "shared", "data", "real",
                              "dental_cbct_labels.nii.gz")


def real_anatomy_script():
    path = os.path.join(ROOT, "docs", "scripts", "real_anatomy_nv.py")
    spec = importlib.util.spec_from_file_location("real_anatomy_nv", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mesh_of(labels, value, smoothing):
    mask = sitk.Cast(labels == value, sitk.sitkUInt8)
    return surfaces.mask_surface(mask, smoothing=smoothing)


def mirror_points_back(points, labels):
    """LPS points of the mirrored image mapped back through the flip (x index i -> n - 1 - i)."""
    direction = np.asarray(labels.GetDirection(), float).reshape(3, 3)
    spacing = np.asarray(labels.GetSpacing(), float)
    origin = np.asarray(labels.GetOrigin(), float)
    index = (points - origin) @ np.linalg.inv(direction).T / spacing
    index[:, 0] = labels.GetSize()[0] - 1 - index[:, 0]
    return (index * spacing) @ direction.T + origin


def surface_distances(points, poly, mirror_back):
    """Distance (mm) of each of ``points`` to the surface of ``poly`` after mapping its points
    through ``mirror_back``."""
    from vtkmodules.vtkCommonCore import mutable, vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkPolyData, vtkStaticCellLocator
    from vtkmodules.util import numpy_support

    moved = vtkPolyData()
    moved.DeepCopy(poly)
    vpts = vtkPoints()
    vpts.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(
        mirror_back(surfaces.points(poly)), float), deep=True))
    moved.SetPoints(vpts)
    locator = vtkStaticCellLocator()
    locator.SetDataSet(moved)
    locator.BuildLocator()
    closest, cell, sub, dist2 = [0.0, 0.0, 0.0], mutable(0), mutable(0), mutable(0.0)
    out = np.empty(len(points))
    for i, p in enumerate(points):
        locator.FindClosestPoint(p.tolist(), closest, cell, sub, dist2)
        out[i] = float(dist2) ** 0.5
    return out


def enclosed_volume(poly):
    pts, tri = surfaces.points(poly), surfaces.triangles(poly)
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    return abs(float(np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6.0))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", default=DEFAULT_LABELS)
    parser.add_argument("--smoothing", type=float, nargs="+", default=[0.5, 0.39, 0.0])
    args = parser.parse_args(argv)
    if not os.path.exists(args.labels):
        sys.exit("error: %s not found (the ../shared folder is absent)" % args.labels)
    script = real_anatomy_script()
    labels, _ = script.build_labels(sitk.ReadImage(args.labels))
    mirror = script.mirrored(labels)

    print("| bone | smoothing | vertices | to the nearest mirrored vertex mm: mean / p99 / max | "
          "to the mirrored surface mm: mean / p99 / max | volume mm3 original / mirror |")
    print("|---|---|---|---|---|---|")
    for name, value, other in (("left condyle", 1, 2), ("left temporal bone", 3, 4)):
        for factor in args.smoothing:
            a = mesh_of(labels, value, factor)
            b = mesh_of(mirror, other, factor)   # the original's left is the mirror's right
            pa = surfaces.points(a)
            pb = mirror_points_back(surfaces.points(b), labels)
            d = np.concatenate([cKDTree(pb).query(pa)[0], cKDTree(pa).query(pb)[0]])
            s = surface_distances(pa, b, lambda q: mirror_points_back(q, labels))
            print("| %s | %.2f | %d / %d | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f | %.1f / %.1f |"
                  % (name, factor, len(pa), len(pb), d.mean(), np.percentile(d, 99), d.max(),
                     s.mean(), np.percentile(s, 99), s.max(), enclosed_volume(a),
                     enclosed_volume(b)), flush=True)
    print()
    print("| mode | NV left / right mm3 | mirror image, swapped: left / right % |")
    print("|---|---|---|")
    for mode in ("confined", "bounded"):
        original = script.measure(labels, mode=mode).report
        flipped = script.measure(mirror, mode=mode).report
        nv = [original[s]["negative_volume_mm3"] for s in ("left", "right")]
        swapped = [flipped[s]["negative_volume_mm3"] for s in ("right", "left")]
        print("| %s | %.1f / %.1f | %+.2f / %+.2f |" % (
            mode, nv[0], nv[1], 100.0 * (swapped[0] / nv[0] - 1.0),
            100.0 * (swapped[1] / nv[1] - 1.0)), flush=True)


if __name__ == "__main__":
    main()
