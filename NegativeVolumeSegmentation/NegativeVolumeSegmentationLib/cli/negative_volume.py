"""``nvseg negative-volume LABELS [--ct CT] -o OUT_DIR``: NV of both joints from a label map.

LABELS holds 1/2 condyle and 3/4 temporal bone (docs/interfaces.md) on any grid. Writes, all or
nothing (:mod:`..io.results_folder`): OUT_DIR/report.json, OUT_DIR/labels.nii.gz (1-6),
OUT_DIR/segmentation.seg.nrrd (the same six segments, named and coloured, for Slicer),
OUT_DIR/report.png (on the CT's slices with ``--ct``, else on the label map's) and VTK meshes in
LPS mm (``<side>_condyle.vtk`` with point data ``JointSpaceThickness_mm``,
``<side>_temporal_bone.vtk``, ``<side>_inflated.vtk``, ``<side>_negative_volume.vtk``). ``--ct``
(resampled onto the label map's grid when it lies elsewhere inside it) adds the air rule and
the CT's own grid to the quality gate.

An input (LABELS or CT, by real path) that the write would replace (a result file of an earlier
run in OUT_DIR, e.g. the segmentation.seg.nrrd corrected in Slicer) is refused before anything
is read. The label map is read by :func:`..pipeline.measure_labels` (its sides decided and
checked), as on every route.
"""

import os
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
                   help="label map: NIfTI (.nii.gz, .nii), NRRD (.nrrd, .nhdr), MetaImage "
                        "(.mha, .mhd) or a Slicer segmentation (.seg.nrrd); values 1-4 or "
                        "segments named as docs/interfaces.md says")
    p.add_argument("--ct", metavar="CT",
                   help="the CT the labels belong to (a file or a DICOM folder): its air is "
                        "never joint space, the quality gate reads its grid and intensities, "
                        "report.png shows its slices")
    p.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    O.add_arguments(p, PARAMETERS)
    p.set_defaults(func=run)
    return p


def run(args):
    from .. import pipeline
    from ..io import results_folder
    from ..io.case_names import case_name

    options = O.from_arguments(args, segment=False)
    for line in O.unused(options):
        print("nvseg: " + line, file=sys.stderr)
    out_dir = results_folder.check_creatable(args.output)   # created when the result is written
    refuse_replacing_inputs(out_dir, (args.labels, args.ct))
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


def refuse_replacing_inputs(out_dir, inputs):
    """InputError when an input file (by real path) is one of the files that writing a result
    into ``out_dir`` replaces (:func:`..io.results_folder.result_files`)."""
    from ..errors import InputError
    from ..io import results_folder

    def real(path):
        return os.path.normcase(os.path.realpath(path))

    replaced = set(real(os.path.join(out_dir, n)) for n in results_folder.result_files(out_dir))
    for path in inputs:
        if path is not None and real(path) in replaced:
            raise InputError("the output would replace the input %s: choose another output folder"
                             % os.path.abspath(path))


def _fmt(value):
    return "-" if value is None else "%.2f" % value
