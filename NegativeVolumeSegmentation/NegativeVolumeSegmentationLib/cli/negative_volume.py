"""``nvseg negative-volume LABELS [--ct CT] -o OUT_DIR``: NV of both joints from a label map.

LABELS holds 1/2 condyle and 3/4 temporal bone (interfaces.md) on any grid. Writes, all or
nothing (staged_output): OUT_DIR/report.json, OUT_DIR/labels.nii.gz (1-6) and VTK meshes in LPS mm
(``<side>_condyle.vtk`` with point data ``JointSpaceThickness_mm``, ``<side>_temporal_bone.vtk``,
``<side>_inflated.vtk``, ``<side>_negative_volume.vtk``); with ``--ct`` also OUT_DIR/report.png.
"""

import os
import sys
import time

import numpy as np
from vtkmodules.vtkIOLegacy import vtkPolyDataWriter

from ..engine import inflate
from ..report import report_json as report
from ..errors import InputError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "negative-volume",
        help="negative volume (joint space) from a condyle / temporal-bone label map",
        description="Measure the TMJ negative volume of both joints from a label map holding "
                    "1/2 condyle and 3/4 temporal bone (left/right of the patient).")
    p.add_argument("labels", metavar="LABELS",
                   help="label map (.nii.gz, .nii, .nrrd, .mha, .seg.nrrd)")
    p.add_argument("--ct", metavar="CT", help="the CT the labels belong to (grid is checked)")
    p.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    p.add_argument("--max-distance", metavar="MM", type=float,
                   default=inflate.DEFAULT_MAX_DISTANCE_MM,
                   help="longest inflation ray in mm (default %(default)s)")
    p.add_argument("--mode", choices=inflate.MODES, default="confined",
                   help="confined: rays missing the temporal bone count 0 (default); paper: "
                        "min(hit, max distance) clipped by a cube (Belikova et al. 2021)")
    p.add_argument("--cube", metavar="MM", type=float, default=30.0,
                   help="edge of the paper-mode clipping cube in mm (default %(default)s)")
    p.set_defaults(func=run)
    return p


def check_same_grid(labels_image, ct_image, tolerance_mm=1e-3):
    """InputError unless the label map lies on the CT's voxel grid (size, spacing, origin, axes)."""
    if tuple(labels_image.GetSize()) != tuple(ct_image.GetSize()):
        raise InputError("label map size %s differs from the CT size %s: not on the CT grid"
                         % (labels_image.GetSize(), ct_image.GetSize()))
    spacing_l = np.asarray(labels_image.GetSpacing())
    spacing_c = np.asarray(ct_image.GetSpacing())
    if np.max(np.abs(spacing_l - spacing_c)) > tolerance_mm:
        raise InputError("label map spacing %s mm differs from the CT spacing %s mm"
                         % (tuple(np.round(spacing_l, 4)), tuple(np.round(spacing_c, 4))))
    if np.max(np.abs(np.subtract(labels_image.GetOrigin(), ct_image.GetOrigin()))) > tolerance_mm:
        raise InputError("label map origin %s mm differs from the CT origin %s mm"
                         % (tuple(np.round(labels_image.GetOrigin(), 3)),
                            tuple(np.round(ct_image.GetOrigin(), 3))))
    if np.max(np.abs(np.subtract(labels_image.GetDirection(), ct_image.GetDirection()))) > 1e-4:
        raise InputError("label map axes (direction) differ from the CT axes")


def write_mesh(poly, path):
    """Write a vtkPolyData (LPS mm, point data kept) as a binary legacy .vtk file."""
    writer = vtkPolyDataWriter()
    writer.SetFileName(path)
    writer.SetInputData(poly)
    writer.SetFileTypeToBinary()
    if not writer.Write():
        raise OSError("could not write %s" % path)




def run(args):
    from ..io import results_folder as output_dir
    from ..engine.measure import measure_negative_volume
    from ..io.segmentation_files import read_label_map, write_label_image

    start = time.perf_counter()
    if not (args.max_distance > 0):
        raise InputError("--max-distance must be a positive number of mm, got %r"
                         % args.max_distance)
    if args.mode == "paper" and not (args.cube > 0):
        raise InputError("--cube must be a positive number of mm, got %r" % args.cube)
    output_dir.check_writable(args.output)
    labels_image = read_label_map(args.labels)
    warnings = []
    if args.ct:
        from ..io.ct import case_name, read_ct

        ct_image, ct_warnings = read_ct(args.ct)
        warnings.extend(ct_warnings)
        check_same_grid(labels_image, ct_image)
    result = measure_negative_volume(labels_image, max_distance=args.max_distance,
                                     mode=args.mode, cube_mm=args.cube)
    warnings.extend(result.warnings)
    timings = dict(result.timings_s)
    with output_dir.staged_output(args.output) as stage:
        write_label_image(result.labels, os.path.join(stage, "labels.nii.gz"))
        for side, meshes in result.meshes.items():
            for name, poly in sorted(meshes.items()):
                write_mesh(poly, os.path.join(stage, "%s_%s.vtk" % (side, name)))
        timings["total"] = time.perf_counter() - start
        extra = {"inputs": {"labels": os.path.abspath(args.labels),
                            "ct": os.path.abspath(args.ct) if args.ct else None},
                 "parameters": {"mode": args.mode, "max_distance_mm": args.max_distance,
                                "cube_mm": args.cube if args.mode == "paper" else None}}
        rep = report.build_report(result.sides, warnings, timings, device="cpu", extra=extra)
        report.write_report(rep, os.path.join(stage, "report.json"))
        if args.ct:
            from ..report.figure import render_report_figure

            render_report_figure(os.path.join(stage, "report.png"), ct_image, result.labels, rep,
                                 result.meshes, case_name(args.ct))
    for line in warnings:
        print("warning: " + line, file=sys.stderr)
    for side in ("left", "right"):
        values = rep[side]
        if values is None:
            print("%-5s  not measured" % side)
        else:
            print("%-5s  negative volume %.1f mm3, condyle %.1f mm3, joint space min %s / mean %s mm"
                  % (side, values["negative_volume_mm3"], values["condyle_volume_mm3"],
                     _fmt(values["joint_space_min_mm"]), _fmt(values["joint_space_mean_mm"])))
    return 0


def _fmt(value):
    return "-" if value is None else "%.2f" % value
