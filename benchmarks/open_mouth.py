"""A mouth opened on real anatomy: the condyles of a real label map moved as a jaw opens, the
temporal bones left where they are, and what the engine and the quality gate say.

Opening the mouth turns the mandible chin-down about the left-right axis through its condyles and
then slides each condyle forwards, down the posterior slope of its articular eminence, onto the
crest. Here the MC labels (1, 2) alone are moved rigidly: turned chin-down by ``degrees`` about the
LPS x axis through a point 5 mm under the condyles' tops, moved ``forward_mm`` anteriorly (LPS -y),
then lowered in 0.5 mm steps until no condyle voxel lies within two voxels of temporal bone (the
eminence the condyle rides on; the disc between them is not labelled). The temporal bones are the
real ones: the dental CBCT label map of ../shared (0.5 mm) or, with ``--vhf``, the labels the
pipeline makes for the real head CT.

Known answer: the condylar head's centre moves forwards by what the transform moves it, the
eminence crest stays; report.json's ``joint_bounds.head_behind_eminence_mm`` must fall by that
much, and the gate must caution "not seated" once the head is within 4 mm of the crest.

    .venv/bin/python benchmarks/open_mouth.py [--forward 0,4,8,10,12,14] [--vhf]

Prints one table; asserts nothing (test: Testing/report/test_condyle_seat.py).
"""

import argparse
import os
import sys
import time

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "NegativeVolumeSegmentation"))
SHARED_REAL = os.path.join(os.path.dirname(REPO), "shared", "data", "real")
from NegativeVolumeSegmentationLib import labels as L  # noqa: E402

PIVOT_BELOW_TOP_MM = 5.0     # the hinge: about the condylar heads' centres
DEGREES_PER_MM = 2.5         # chin-down turn per mm of forward glide (25 degrees at 10 mm)
MAX_DEGREES = 25.0
CLEARANCE_VOXELS = 2         # condyle and temporal bone at least this far apart after lowering
DOWN_STEP_MM = 0.5
MAX_DOWN_MM = 15.0
HEAD_DEPTH_MM = L.CONDYLAR_HEAD_MM   # the condylar head


def _points(image, kji):
    """LPS mm of voxel indices (z, y, x arrays)."""
    direction = np.reshape(image.GetDirection(), (3, 3))
    ijk = np.stack([kji[2], kji[1], kji[0]], axis=1).astype(float)
    return (ijk * np.array(image.GetSpacing())) @ direction.T + np.array(image.GetOrigin())


def condyle_tops(labels):
    """{MC label: its highest voxel centre (LPS mm)} for the labels 1 and 2 present."""
    arr = sitk.GetArrayViewFromImage(labels)
    tops = {}
    for value in (1, 2):
        pts = _points(labels, np.nonzero(arr == value))
        if len(pts):
            tops[value] = pts[int(np.argmax(pts[:, 2]))]
    return tops


def opening(labels, forward_mm, degrees=None):
    """(matrix, centre, translation) of the opening: p -> matrix (p - centre) + centre +
    translation, LPS mm, before lowering."""
    if degrees is None:
        degrees = min(MAX_DEGREES, DEGREES_PER_MM * forward_mm)
    a = np.radians(degrees)   # about +x (patient's left): the chin (anterior, -y) goes down
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    centre = np.mean(list(condyle_tops(labels).values()), axis=0) - [0.0, 0.0, PIVOT_BELOW_TOP_MM]
    return matrix, centre, np.array([0.0, -float(forward_mm), 0.0])


def _moved(labels, condyles, matrix, centre, translation):
    """``condyles`` (uint8 image: MC labels only) moved by the rigid motion, nearest-neighbour on
    ``labels``' grid (as an array)."""
    inverse = sitk.AffineTransform(3)        # output point -> input point
    inverse.SetMatrix(matrix.T.ravel().tolist())
    inverse.SetCenter([float(c) for c in centre])
    inverse.SetTranslation([float(v) for v in -(matrix.T @ translation)])
    return sitk.GetArrayFromImage(sitk.Resample(condyles, labels, inverse,
                                                sitk.sitkNearestNeighbor, 0))


def open_mouth(labels, forward_mm, degrees=None):
    """``labels`` with their condyles (MC labels 1, 2) moved as a mouth opens (module doc); the
    temporal bones (3, 4) stay. Returns (label image, {"down_mm", "degrees", "forward_mm",
    "head_moved_mm": {MC label: (3,) LPS mm the transform moves that condylar head's centre}}).
    """
    arr = sitk.GetArrayFromImage(labels)
    mc = np.isin(arr, (1, 2))
    condyles = sitk.GetImageFromArray(np.where(mc, arr, 0).astype(np.uint8))
    condyles.CopyInformation(labels)
    bone = ndimage.binary_dilation(np.isin(arr, (3, 4)), iterations=CLEARANCE_VOXELS)
    matrix, centre, translation = opening(labels, forward_mm, degrees)
    down = 0.0
    while True:
        step = translation + [0.0, 0.0, -down]
        moved = _moved(labels, condyles, matrix, centre, step)
        if not (moved.astype(bool) & bone).any():
            break
        down += DOWN_STEP_MM
        if down > MAX_DOWN_MM:
            raise ValueError("no clearance within %.0f mm down" % MAX_DOWN_MM)
    out = np.where(mc, 0, arr)
    out = np.where(moved > 0, moved, out).astype(np.uint8)
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(labels)
    heads = {}
    for value, top in condyle_tops(labels).items():
        pts = _points(labels, np.nonzero(arr == value))
        head = pts[pts[:, 2] >= top[2] - HEAD_DEPTH_MM]
        after = (head - centre) @ matrix.T + centre + step
        heads[value] = after.mean(axis=0) - head.mean(axis=0)
    angle = float(np.degrees(np.arccos(np.clip(matrix[1, 1], -1, 1))))
    return image, {"down_mm": down, "degrees": angle, "forward_mm": float(forward_mm),
                   "head_moved_mm": heads}


def dental_labels():
    """The MC/TB label map of the dental CBCT label map in ../shared (docs/scripts)."""
    from NegativeVolumeSegmentationLib.training.real_shapes import build_labels

    labels, _ = build_labels(sitk.ReadImage(os.path.join(SHARED_REAL,
                                                         "dental_cbct_labels.nii.gz")))
    return labels


def vhf_labels():
    """The MC/TB labels (1-4) the pipeline makes for the real head CT in ../shared."""
    from NegativeVolumeSegmentationLib.inference.models import load_models
    from NegativeVolumeSegmentationLib.options import RunOptions
    from NegativeVolumeSegmentationLib.pipeline import run_case

    ct = sitk.ReadImage(os.path.join(SHARED_REAL, "vhf_head.nii.gz"))
    result = run_case(ct, load_models(None, device="cpu"), RunOptions(), device="cpu")
    arr = sitk.GetArrayFromImage(result.labels)
    out = sitk.GetImageFromArray(np.where(arr <= 4, arr, 0).astype(np.uint8))
    out.CopyInformation(result.labels)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward", default="0,4,8,10,12,14",
                        help="forward glides, mm (comma-separated; default %(default)s)")
    parser.add_argument("--vhf", action="store_true",
                        help="the real head CT's own labels (pipeline) instead of the dental map")
    args = parser.parse_args(argv)
    from NegativeVolumeSegmentationLib.pipeline import measure_labels

    labels = vhf_labels() if args.vhf else dental_labels()
    print("| forward mm | turn deg | down mm | side | NV mm3 | head behind crest mm | "
          "expected mm | min space mm | seat caution |")
    print("|---|---|---|---|---|---|---|---|---|")
    reference = {}
    for forward in [float(v) for v in args.forward.split(",")]:
        t0 = time.perf_counter()
        opened, info = (labels, {"down_mm": 0.0, "degrees": 0.0, "head_moved_mm": {}}) \
            if forward == 0 else open_mouth(labels, forward)
        report = measure_labels(opened).report
        for side, value in (("left", 1), ("right", 2)):
            v = report.get(side) or {}
            behind = (v.get("joint_bounds") or {}).get("head_behind_eminence_mm")
            if forward == 0:
                reference[side] = behind
            moved = info["head_moved_mm"].get(value)
            expected = (None if moved is None or reference.get(side) is None
                        else reference[side] + moved[1])   # +y posterior
            caution = any(c.startswith(side + " side: the condyle is not seated")
                          for c in report["cautions"])

            def f(x, pattern="%.1f"):
                return "-" if x is None else pattern % x
            print("| %g | %.0f | %.1f | %s | %s | %s | %s | %s | %s |" % (
                forward, info["degrees"], info["down_mm"], side,
                f(v.get("negative_volume_mm3"), "%.0f"), f(behind, "%.2f"), f(expected, "%.2f"),
                f(v.get("joint_space_min_mm"), "%.2f"),
                "yes" if caution else (report["quality"][side]["reason"] or "no")))
        sys.stdout.flush()
        del t0
    return 0


if __name__ == "__main__":
    sys.exit(main())
