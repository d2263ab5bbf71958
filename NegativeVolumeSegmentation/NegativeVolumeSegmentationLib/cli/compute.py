"""``nvseg compute INPUT -o OUT_DIR --options JSON``: one case, exactly as the Slicer module runs it.

The Slicer module's background run starts this in a child process (``<python> -m
NegativeVolumeSegmentationLib.cli compute ...``): INPUT is the CT (``segment`` true) or the
condyle / temporal-bone label map (``segment`` false) the panel exported; ``--options`` the
panel's :class:`..options.RunOptions` as JSON; only the result ``--parts`` the caller reads are
written (default: report, labels, condyle meshes), all or nothing, and read back with
:func:`..io.results_folder.read_case`. The same :func:`..pipeline.compute` runs in process.
With ``--parent-pid`` the run stops when the Slicer that started it ends (:mod:`.parent_watch`).
"""

from ..errors import InputError
from ..options import RunOptions


def add_parser(subparsers):
    from ..io.results_folder import PARTS, SCENE_PARTS

    p = subparsers.add_parser(
        "compute", help="one case with the Slicer module's options, writing only the asked "
                        "result parts (the module's background run)",
        description="Run one case (segment a CT, or measure a condyle / temporal-bone label "
                    "map) with options given as JSON, as the Slicer module does.")
    p.add_argument("input", metavar="INPUT", help="CT, or label map when segment is false")
    p.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    p.add_argument("--options", metavar="JSON", default="{}",
                   help="RunOptions as a JSON object (defaults for what is absent)")
    p.add_argument("--parts", metavar="PART", nargs="+", default=list(SCENE_PARTS),
                   choices=PARTS, help="result parts to write (default: %(default)s)")
    p.add_argument("--ct", metavar="CT", help="with segment false: the CT the label map belongs "
                   "to (the air rule; the quality gate reads its grid)")
    p.add_argument("--model-dir", metavar="DIR", help="folder of the models (default: "
                   "$NVSEG_MODEL_DIR when set, else the bundled models)")
    p.add_argument("--progress-file", metavar="FILE",
                   help="append one JSON line {\"stage\": ...} as each stage starts")
    p.add_argument("--case", metavar="NAME", help="case name shown in messages")
    p.add_argument("--parent-pid", metavar="PID", type=int,
                   help="stop (exit 130, nothing written) as soon as process PID ends: the "
                        "Slicer that started the run")
    p.add_argument("--temp-dir", metavar="DIR",
                   help="with --parent-pid: the run's temporary folder, removed when PID ends "
                        "(only a folder named nvseg-slicer-PID-...)")
    p.set_defaults(func=run)
    return p


def run(args):
    from .. import pipeline
    from ..io import results_folder

    if args.parent_pid is not None:   # first: a Slicer already gone ends this at once
        from .parent_watch import watch

        watch(args.parent_pid, args.temp_dir)
    elif args.temp_dir is not None:
        raise InputError("--temp-dir is only removed when the --parent-pid process ends; "
                         "give --parent-pid too")
    options = RunOptions.from_json(args.options)
    results_folder.check_creatable(args.output)   # created when the result is written

    def progress(stage, case):
        if args.progress_file:
            results_folder.append_progress(args.progress_file, {"case": case, "stage": stage})

    models = device = None
    if options.segment:  # only then torch: measuring given segments runs without it
        from ..inference.device import choose_device
        from ..inference.models import load_models

        device = choose_device(options.device)
        models = load_models(args.model_dir, device=device.device)
    result = pipeline.compute(args.input, options, models, progress, args.case, device,
                              ct=None if options.segment else args.ct)
    progress("write", args.case)
    results_folder.write_case(result, args.output, tuple(args.parts), args.case)
    return 0
