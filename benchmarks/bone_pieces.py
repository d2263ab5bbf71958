"""Bones in pieces: NV and condyle volume of label maps whose bones are cracked, hollow or doubled.

    .venv/bin/python benchmarks/bone_pieces.py [--spacing 0.25] [--fine 0.1]

The analytic sphere-cap phantom (condyle r 8 mm, joint space 2.5 mm, cap 55 degrees; truth from
closed forms, `phantom/analytic_truth.py`) on a ``--spacing`` grid, measured from its labels
(`pipeline.measure_labels`, as `nvseg negative-volume`) as drawn and altered the way users' label
maps are: the temporal bone cracked by a one-voxel gap (through or beside the cap's apex), the
condyle cracked (a slice skipped when painting: 1 mm under its top, 6 mm under it, through its
centre, vertically), the condyle's cortex alone (closed, open through a one-voxel channel or a
2 mm bore at its bottom), a second piece labelled condyle. Prints NV and condyle volume against
the truth, what was left out / filled, the cautions, and the seconds per case (docs/method.md,
"Bones in pieces"). With ``--fine`` also the cost on a fine grid: the cap as drawn and with its
temporal bone cut into pieces by cracks every 2 mm (seconds, peak memory of this process).
Asserts nothing.
"""

import argparse
import os
import resource
import sys
import time

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "NegativeVolumeSegmentation"))

from NegativeVolumeSegmentationLib import pipeline  # noqa: E402
from NegativeVolumeSegmentationLib.phantom.analytic import make_analytic_phantom  # noqa: E402
from NegativeVolumeSegmentationLib.phantom.analytic_truth import (  # noqa: E402
    sphere_cap_negative_volume)

R_MM, GAP_MM, THETA = 8.0, 2.5, 55.0


def _cap(spacing):
    ph = make_analytic_phantom(seed=12, sides=("left",), spacing=(spacing,) * 3,
                               condyle_radius_mm=R_MM, joint_space_mm=GAP_MM,
                               cap_half_angle_deg=THETA)
    centre = np.rint(ph.labels.TransformPhysicalPointToContinuousIndex(
        ph.truth["left"]["condyle_center_lps_mm"])).astype(int)[::-1]   # (z, y, x)
    return ph.labels, sitk.GetArrayFromImage(ph.labels), centre


def _cracked(array, centre, spacing, value, axis, offset_mm, every_mm=None):
    out = array.copy()
    index = [slice(None)] * 3
    if every_mm is None:
        index[axis] = int(centre[axis] + round(offset_mm / spacing))
    else:
        index[axis] = slice(None, None, int(round(every_mm / spacing)))
    plane = out[tuple(index)]
    plane[plane == value] = 0
    return out


def _cortex(array, centre, spacing, bore_mm):
    out = array.copy()
    out[ndimage.binary_erosion(array == 1, iterations=int(round(2.0 / spacing)))] = 0
    if bore_mm:
        z, y, x = np.indices(array.shape)
        bore = (((y - centre[1]) ** 2 + (x - centre[2]) ** 2) * spacing ** 2
                <= bore_mm ** 2 / 4.0 + 1e-9) & (z < centre[0])
        out[bore & (out == 1)] = 0
    return out


def _second_piece(array, centre, spacing):
    out = array.copy()
    z, y, x = centre
    k, n = int(round((R_MM + 1.0) / spacing)), int(round(5.5 / spacing))
    out[z - k - n:z - k, y:y + n, x:x + n] = 1
    return out


def _row(name, array, reference, truth_nv, truth_mc):
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    start = time.perf_counter()
    report = pipeline.measure_labels(image).report
    seconds = time.perf_counter() - start
    left = report["left"] or {}
    nv, mc = left.get("negative_volume_mm3"), left.get("condyle_volume_mm3")
    cautions = "; ".join(c.split(": ", 1)[-1][:60] for c in report["cautions"]) or "-"
    print("| %s | %s | %s | %s | %s | %.0f / %.0f | %.1f | %s |" % (
        name, "-" if nv is None else "%.1f" % nv,
        "-" if nv is None else "%+.1f" % (100.0 * (nv / truth_nv - 1.0)),
        "-" if mc is None else "%.1f" % mc,
        "-" if mc is None else "%+.1f" % (100.0 * (mc / truth_mc - 1.0)),
        left.get("condyle_left_out_mm3", 0.0), left.get("condyle_filled_mm3", 0.0), seconds,
        cautions))
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=0.25, help="voxel edge (mm)")
    parser.add_argument("--fine", type=float, default=None,
                        help="also the cost on this finer voxel edge (mm), e.g. 0.1")
    args = parser.parse_args(argv)
    truth_nv = sphere_cap_negative_volume(R_MM, R_MM + GAP_MM, THETA)
    truth_mc = 4.0 / 3.0 * np.pi * R_MM ** 3
    reference, array, centre = _cap(args.spacing)
    s = args.spacing
    print("sphere cap r %g mm, space %g mm, %g deg, %g mm voxels: truth NV %.1f mm3, condyle %.1f"
          " mm3\n" % (R_MM, GAP_MM, THETA, s, truth_nv, truth_mc))
    print("| label map | NV mm3 | NV % | condyle mm3 | condyle % | left out / filled mm3 | s | "
          "cautions |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [("as drawn", array)]
    cases += [("temporal bone cracked, %s %+g mm" % ("xyz"[2 - axis], off),
               _cracked(array, centre, s, 3, axis, off))
              for axis, off in ((2, 0.0), (2, 3.0), (1, -4.0), (1, 0.0))]
    cases += [("condyle cracked, %s %+g mm" % ("xyz"[2 - axis], off),
               _cracked(array, centre, s, 1, axis, off))
              for axis, off in ((0, 7.0), (0, 2.0), (0, -3.0), (2, 0.0))]
    cases += [("condyle cortex 2 mm, closed", _cortex(array, centre, s, 0.0)),
              ("condyle cortex 2 mm, channel", _cortex(array, centre, s, s)),
              ("condyle cortex 2 mm, 2 mm bore", _cortex(array, centre, s, 2.0)),
              ("second condyle piece 1 mm below", _second_piece(array, centre, s))]
    for name, case in cases:
        _row(name, case, reference, truth_nv, truth_mc)
    if args.fine:
        reference, array, centre = _cap(args.fine)
        print("\nthe same cap at %g mm (%d voxels)\n" % (args.fine, array.size))
        print("| label map | NV mm3 | NV % | condyle mm3 | condyle % | left out / filled mm3 | s | "
              "cautions |")
        print("|---|---|---|---|---|---|---|---|")
        _row("as drawn", array, reference, truth_nv, truth_mc)
        _row("temporal bone cracked every 2 mm (x, y)",
             _cracked(_cracked(array, centre, args.fine, 3, 2, 0, 2.0), centre, args.fine, 3, 1,
                      0, 2.0), reference, truth_nv, truth_mc)
        print("\npeak memory of this process: %.0f MB" %
              (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
