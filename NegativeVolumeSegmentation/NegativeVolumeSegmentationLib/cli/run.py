"""``nvseg run INPUT [INPUT ...] -o OUT_DIR``: whole-head CT -> both joints' negative volumes.

INPUT: CT files (NIfTI, NRRD, MetaImage), DICOM folders (a series, or a study's series in it or
in its subfolders: the axial CT is measured, io/dicom_series.py), or folders of such cases. Per
case, written all or nothing (:mod:`..io.results_folder`) into ``OUT_DIR/<case>/``: report.json,
segmentation.seg.nrrd, labels.nii.gz (1-6), report.png and VTK meshes (LPS mm; the condyle mesh
carries ``JointSpaceThickness_mm``). ``OUT_DIR/cohort.csv`` gets one row per case, rewritten
(atomically) as each case ends, so an interrupted run leaves the rows of the cases it finished; a
case that fails gets its error in its row and the batch goes on. ``--resume`` keeps the cases an
earlier run into OUT_DIR finished with the same input, version, parameters and networks
(:mod:`.case_outputs`: also where each case goes) and computes the rest. ``--progress-file FILE`` appends one
JSON line per stage for programs that follow the run (the Slicer module's background run).
Exit status: 0 when at least one case succeeded; 2 when every case failed or the input itself
is bad (missing input, unwritable output, missing or corrupt model); 1 when the one case failed
on a bug in nvseg ("internal error").
"""

import os
import sys
import time

from .. import __version__
from .. import options as O
from ..errors import InputError, ModelError, check_utf8_path, error_line
from ..report.cohort_csv import cohort_row, summary, write_cohort_csv
from . import case_outputs

PARAMETERS = ("device", "max_distance_mm", "mode", "cube_mm", "enhance_tb")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "run", help="negative volume of both TMJs from head CTs (localise, segment, measure)",
        description="Find both temporomandibular joints in each head CT, segment condyle and "
                    "temporal bone with the bundled models and measure the negative volume.")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="CT file, DICOM folder (a series, or a study: its axial CT series is "
                        "measured), or a folder of cases")
    p.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    O.add_arguments(p, PARAMETERS)
    p.add_argument("--model-dir", metavar="DIR",
                   help="folder with tmj_localizer.pt, tmj_segmentation.pt and SHA256SUMS "
                        "(default: $NVSEG_MODEL_DIR when set, else the bundled models)")
    p.add_argument("--resume", action="store_true",
                   help="keep the cases an earlier run into OUT_DIR finished from the same input "
                        "with the same version, parameters and models (their cohort.csv rows "
                        "read from their report.json); compute the others")
    p.add_argument("--progress-file", metavar="FILE",
                   help="append machine-readable progress to FILE, one JSON line as each stage "
                        "starts: {\"case\", \"case_index\", \"cases\", \"stage\"} with stage "
                        "read, localise, segment, postprocess, geometry or write (for a "
                        "program following the run)")
    p.set_defaults(func=run)
    return p


class _ProgressLines(object):
    """Plain progress on stderr, one line as each stage starts and one as each case ends (the
    subset of tqdm's interface that :func:`run` uses; no tqdm, which Slicer does not ship).

    Shown only when stderr is a terminal, like tqdm's ``disable=None``: a pipe or a log file
    (the Slicer module's background run, scripts) keeps stderr to warnings and the one-line
    error; programs follow ``--progress-file`` instead."""

    def __init__(self, total, label, stream=None):
        self.total, self.n, self.label = total, 0, label
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty is not None and isatty())
        self.description = ""

    def set_description_str(self, text):
        self.description = text

    def update(self, n=1):
        self.n += n
        if self.enabled:
            text = "[%s %d/%d]" % (self.label, self.n, self.total)
            if self.description:
                text += " " + self.description
            self.stream.write(text + "\n")
            self.stream.flush()

    def reset(self):
        self.n, self.description = 0, ""

    def close(self):
        pass


def _progress_bars(n_cases):
    """(case progress, stage progress): plain lines on stderr, shown only on a terminal."""
    from ..pipeline import STAGES

    cases = _ProgressLines(n_cases, "case")
    cases.set_description_str("done")
    stages = _ProgressLines(len(STAGES) + 1, "stage")
    return cases, stages


def run(args):
    from ..inference.device import choose_device
    from ..inference.models import load_models
    from ..io import results_folder
    from ..io.ct import find_cases

    options = O.from_arguments(args, segment=True)
    for line in O.unused(options):
        print("nvseg: " + line, file=sys.stderr)
    repeated, skipped, renamed = [], [], {}
    cases = find_cases(args.inputs, repeated, skipped, renamed)
    for path, kept in repeated:
        print("nvseg: %s: the same input as %s; measured once" % (path, kept), file=sys.stderr)
    if skipped:
        print("nvseg: not measured: %s (named as label maps, or results written there)"
              % ", ".join(skipped), file=sys.stderr)
    for case, path in cases:
        if path in renamed:
            print("nvseg: %s: case %s (another input is also named %s)" % (path, case,
                                                                         renamed[path]),
                  file=sys.stderr)
    check_utf8_path(args.output, "output folder")
    case_outputs.check_places(cases, os.path.abspath(args.output))
    progress_file = getattr(args, "progress_file", None)
    if progress_file:
        results_folder.check_progress_file(progress_file)
    choice = choose_device(options.device)
    models = load_models(args.model_dir, device=choice.device)
    made = results_folder.missing_folders(args.output)
    out_dir = results_folder.check_writable(args.output)   # created once the models loaded
    results_folder.check_replaceable(os.path.join(out_dir, "cohort.csv"))
    resume = getattr(args, "resume", False)
    (earlier, unreadable), taken = case_outputs.earlier_results(out_dir), {}
    cases = [(case_outputs.case_folder(out_dir, case, path, taken, earlier), path)
             for case, path in cases]
    again = sum(1 for (name, _f), path in cases if name in earlier
                and case_outputs.same_input(earlier[name], path))
    if again and not resume and len(cases) > 1:   # a cohort computed again costs hours
        print("nvseg: %d of %d case(s) have results in %s from an earlier run: computed again "
              "(--resume keeps those made the same way)" % (again, len(cases), out_dir),
              file=sys.stderr)
    case_bar, stage_bar = _progress_bars(len(cases))
    case_index = [0]

    def progress(stage, case):
        stage_bar.set_description_str("%s: %s" % (case, stage))
        stage_bar.update(1)
        if progress_file:
            results_folder.append_progress(progress_file, {"case": case, "case_index": case_index[0],
                                             "cases": len(cases), "stage": stage})

    expected = dict(models.provenance() if resume or earlier else {},   # (no network yet)
                    version=__version__, parameters=options.report_parameters())
    listed = dict((name, report) for name, report in earlier.items()   # cohort.csv: made alike
                  if case_outputs.made_otherwise(report, expected) is None)
    rows, failures = [], 0
    try:
        for index, ((case, folder), path) in enumerate(cases):
            case_index[0] = index
            stage_bar.reset()
            kept, why = (case_outputs.earlier_report(folder, path, expected)
                         if resume else (None, None))
            if why:
                print("nvseg: %s: computed again: %s" % (case, why), file=sys.stderr)
            if kept is not None:
                print("nvseg: %s: kept from the earlier run in %s" % (case, folder), file=sys.stderr)
                rows.append(cohort_row(case, path, kept,
                                 seconds=case_outputs.report_seconds(kept)))
                _print_case(case, kept)
            else:
                failures += _run_one(case, path, folder, rows, models, options, choice, progress,
                                     many=len(cases) > 1)
            case_bar.update(1)
            _write_rows(rows, listed, out_dir)
    except KeyboardInterrupt:
        results_folder.remove_empty(made)   # interrupted before any case was written
        raise KeyboardInterrupt("%d of %d cases done%s; run it again with --resume to go on"
                                % (len(rows), len(cases), ", their rows in %s" % os.path.join(
                                    out_dir, "cohort.csv") if rows else ""))
    finally:
        stage_bar.close()
        case_bar.close()
    if failures < len(cases):   # (a failed run's stderr: its one line)
        _say_earlier(rows, earlier, listed, unreadable, out_dir)
    if len(cases) > 1:
        print("%s; %s" % (summary(rows), os.path.join(out_dir, "cohort.csv")))
    if failures == len(cases):
        if len(cases) == 1:
            if rows[0]["error"].startswith("internal error"):   # a bug, not the input: exit 1
                print("nvseg: %s (set NVSEG_DEBUG=1 for details)" % rows[0]["error"],
                      file=sys.stderr)
                return 1
            raise InputError(rows[0]["error"])
        raise InputError("all %d cases failed; see %s" % (len(cases),
                                                          os.path.join(out_dir, "cohort.csv")))
    return 0


def _earlier_rows(rows, earlier):
    """cohort.csv rows of the earlier results ``earlier`` ({folder name: report}) whose folders
    this run has not written (or tried to) so far."""
    done = set(row["case"] for row in rows)
    return [cohort_row(name, case_outputs.made_from(report), report,
                       seconds=case_outputs.report_seconds(report))
            for name, report in earlier.items() if name not in done]


def _say_earlier(rows, earlier, listed, unreadable, out_dir):
    """One line each: the earlier results cohort.csv lists beside this run's (how many of their
    inputs are gone), those it leaves out as made otherwise, the unreadable ones."""
    done = set(row["case"] for row in rows)
    shown = [name for name in listed if name not in done]
    if shown:
        gone = sum(1 for name in shown if not os.path.exists(
            case_outputs.made_from(listed[name]) or ""))
        print("nvseg: cohort.csv also lists %d case(s) an earlier run wrote into %s%s"
              % (len(shown), out_dir, " (%d of their inputs no longer there)" % gone
                 if gone else ""), file=sys.stderr)
    other = [name for name in earlier if name not in listed and name not in done]
    if other:
        print("nvseg: cohort.csv leaves out %d earlier result(s) in %s made with another "
              "version, other parameters or other models: %s" % (len(other), out_dir,
                                                                  ", ".join(other)),
              file=sys.stderr)
    if unreadable:
        print("nvseg: cohort.csv leaves out %s: report.json not readable as a result"
              % ", ".join(os.path.join(out_dir, n) for n in unreadable), file=sys.stderr)


def _write_rows(rows, earlier, out_dir):
    """cohort.csv: this run's rows, then those of the earlier results still in OUT_DIR (a run
    of one more scan into a cohort's folder, or a failed run, left one row before)."""
    try:
        write_cohort_csv(rows + _earlier_rows(rows, earlier), out_dir)
    except OSError as error:   # replaced or locked since the check above
        raise InputError("cannot write %s: %s; the cases done are in their folders"
                         % (os.path.join(out_dir, "cohort.csv"), error.strerror or error))


def _run_one(case, path, folder, rows, models, options, choice, progress, many):
    """Measure one case and write its folder; append its cohort.csv row to ``rows``. Returns 1
    when it failed (its error in its row, on stderr when ``many``), else 0. An interrupted or
    failed case leaves no folder of its own behind."""
    from .. import pipeline
    from ..io import results_folder

    start = time.perf_counter()
    try:
        result = pipeline.run_case(path, models, options, choice, progress, case)
        progress("write", case)
        results_folder.write_case(result, folder, results_folder.ALL_PARTS, case)
        rows.append(cohort_row(case, path, result.report, seconds=time.perf_counter() - start))
        _print_case(case, result.report)
        return 0
    except Exception as error:  # one failed case must not stop the batch
        from . import ctrl_c_pressed

        if ctrl_c_pressed():   # Ctrl-C that a library turned into its own error: stop
            raise KeyboardInterrupt()
        if os.environ.get("NVSEG_DEBUG"):
            raise
        message = error_line(error)
        if results_folder.no_space(error):
            message = "cannot write %s: no space left on device" % folder
        elif not isinstance(error, (InputError, ModelError)):
            message = "internal error: %s: %s" % (type(error).__name__, message)
        if results_folder.result_files(folder):
            message += " (%s still holds an earlier run's result)" % folder
        rows.append(cohort_row(case, path, error=message, seconds=time.perf_counter() - start))
        if many:
            print("nvseg: %s: %s" % (case, message), file=sys.stderr)
        return 1
    finally:
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def _print_case(case, rep):
    for line in rep.get("warnings") or []:
        print("warning: %s: %s" % (case, line), file=sys.stderr)
    for line in rep.get("cautions") or []:
        print("caution: %s: %s" % (case, line), file=sys.stderr)
    for side in ("left", "right"):
        values, status = rep.get(side), (rep.get("quality") or {}).get(side) or {}
        if values is None or status.get("measurable") is False:
            reason = status.get("reason")
            print("%s  %-5s  not measurable: %s" % (case, side, reason or "not measured"))
        else:
            print("%s  %-5s  negative volume %.1f mm3, condyle %.1f mm3, joint space mean %s mm"
                  % (case, side, values["negative_volume_mm3"], values["condyle_volume_mm3"],
                     "-" if values["joint_space_mean_mm"] is None
                     else "%.2f" % values["joint_space_mean_mm"]))
