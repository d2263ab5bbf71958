"""``nvseg negative-volume LABELS [--ct CT] -o OUT_DIR``: NV of both joints from a label map.

LABELS holds 1/2 condyle and 3/4 temporal bone (docs/interfaces.md) on any grid. Writes, all or
nothing (:mod:`..io.results_folder`): OUT_DIR/report.json, OUT_DIR/labels.nii.gz (1-6),
OUT_DIR/segmentation.seg.nrrd (the same six segments, named and coloured, for Slicer),
OUT_DIR/report.png (on the CT's slices with ``--ct``, else on the label map's) and VTK meshes in
LPS mm (``<side>_condyle.vtk`` with point data ``JointSpaceThickness_mm``,
``<side>_temporal_bone.vtk``, ``<side>_inflated.vtk``, ``<side>_negative_volume.vtk``). ``--ct``
(resampled onto the label map's grid when it lies elsewhere inside it) adds the air rule and
the CT's own grid to the quality gate.
"""

import sys

from .. import options as O

PARAMETERS = ("max_distance_mm", "mode", "cube_mm")


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
    O.add_arguments(p, PARAMETERS)
    p.set_defaults(func=run)
    return p


def run(args):
    from .. import pipeline
    from ..io import results_folder
    from ..io.ct import case_name

    options = O.from_arguments(args, segment=False)
    results_folder.check_writable(args.output)
    result = pipeline.measure_labels(args.labels, options, ct=args.ct)
    parts = ("report", "labels", "segmentation", "meshes", "figure")
    results_folder.write_case(result, args.output, parts,
                              case=case_name(args.ct or args.labels))
    rep = result.report
    for line in rep["warnings"]:
        print("warning: " + line, file=sys.stderr)
    for line in rep.get("cautions") or []:
        print("caution: " + line, file=sys.stderr)
    for side in ("left", "right"):
        values = rep[side]
        if values is None:
            reason = ((rep.get("quality") or {}).get(side) or {}).get("reason")
            print("%-5s  not measurable: %s" % (side, reason or "not measured"))
        else:
            print("%-5s  negative volume %.1f mm3, condyle %.1f mm3, joint space min %s / mean %s mm"
                  % (side, values["negative_volume_mm3"], values["condyle_volume_mm3"],
                     _fmt(values["joint_space_min_mm"]), _fmt(values["joint_space_mean_mm"])))
    return 0


def _fmt(value):
    return "-" if value is None else "%.2f" % value
