"""One case's output folder in ``nvseg run``'s OUT_DIR: where it goes, and which earlier
results ``--resume`` keeps.

Where: the folder in OUT_DIR that holds an earlier result of the same input (report.json
``inputs.ct``: a case's folder does not move when other inputs join the cohort and rename it),
else ``OUT_DIR/<case>``, unless that folder holds the result of another input or the name is
taken in this run without regard to case (or is ``cohort.csv``): then ``<case>_2``, ...
(:func:`case_folder`); never inside a DICOM input folder (:func:`check_places`). cohort.csv
lists this run's cases and the earlier results still in OUT_DIR (:func:`earlier_results`).

Kept (``--resume``): a case folder is written all or nothing, report.json last
(:func:`..io.results_folder.write_case`), so a report.json in it means the whole case is there.
It is kept, not computed again, only when it is the result this run would make: the same input
(absolute path, no file of it changed since the report was written: a DICOM folder's files and
folders, a detached header's voxel file), the same nvseg version, the same parameters
(report.json ``parameters``) and the same networks (``models`` and ``model_sha256``; a scan the
quality gate stopped before any network ran has none and does not depend on them). Anything
else is computed again, and the reason is said. A failed case is always tried again.
"""

import json
import os
import sys

from ..errors import InputError
from ..io.case_names import identity
from ..io.results_folder import REPORT

SAME = ("version", "parameters", "models", "model_sha256")   # what the numbers depend on
SAME_WORDS = {"version": "nvseg version", "parameters": "parameters", "models": "models",
              "model_sha256": "model files"}


def _inside(path, folder):
    """Whether ``path`` is ``folder`` or lies inside it (real paths)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_places(cases, out_dir):
    """InputError when the output would be written into a DICOM input: ``out_dir`` inside a
    case's folder, or a case's own output folder (``out_dir/<case>``) being its input folder (the
    input is never written into)."""
    for case, path in cases:
        if not os.path.isdir(path):
            continue
        if _inside(out_dir, path):
            raise InputError("the output folder %s lies inside the input %s, which is never "
                             "written into: choose another output folder" % (out_dir, path))
        if _inside(path, os.path.join(out_dir, case)):
            raise InputError("case %s would be written into its own input folder %s: choose "
                             "another output folder" % (case, path))


def earlier_results(out_dir):
    """({folder name: report}, [folder names]) of the case folders in ``out_dir`` holding a
    report.json (earlier runs' results, written all or nothing), sorted by name: the reports
    that read as results, and the folders whose report.json does not (cut short, hand-edited:
    before, one such file ended the whole run as an internal error)."""
    try:
        names = sorted(os.listdir(out_dir))
    except OSError:
        return {}, []
    found, unreadable = {}, []
    for name in names:
        if not os.path.isfile(os.path.join(out_dir, name, REPORT)):
            continue
        report = _report(os.path.join(out_dir, name))
        if _reads_as_result(name, report):
            found[name] = report
        else:
            unreadable.append(name)
    return found, unreadable


def _reads_as_result(name, report):
    """Whether ``report`` (a dict or None) gives a cohort.csv row."""
    from ..report.cohort_csv import cohort_row

    if report is None:
        return False
    try:
        cohort_row(name, made_from(report), report, seconds=report_seconds(report))
        return True
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def report_seconds(report):
    """The computing time a report.json holds (``timings_s.total``), 0.0 when it holds none."""
    total = (report.get("timings_s") or {}).get("total")
    return float(total) if isinstance(total, (int, float)) else 0.0


def made_from(report):
    """The input (absolute path) a report was made from: ``inputs.ct`` (a label map measured
    alone: ``inputs.labels``), or None."""
    inputs = report.get("inputs")
    if not isinstance(inputs, dict):
        return None
    found = inputs.get("ct") or inputs.get("labels")
    return found if isinstance(found, str) else None


def same_input(report, path):
    """Whether ``report`` was made from ``path``: the same absolute path, or the same file or
    folder reached another way (a symlinked folder, a hard link)."""
    made = made_from(report)
    return made is not None and (made == os.path.abspath(path) or
                                 (os.path.exists(made) and identity(made) == identity(path)))


def made_otherwise(report, expected):
    """Why ``report`` is not a result this run would make (another nvseg version, other
    parameters, other networks: :data:`SAME`), or None. ``expected``: {key: value} of SAME."""
    for key in SAME:
        if key.startswith("model") and "models" not in report:
            continue                            # stopped by the scan's gate: no network ran
        if json.dumps(report.get(key), sort_keys=True) != json.dumps(expected.get(key),
                                                                     sort_keys=True):
            return "other %s" % SAME_WORDS[key]
    return None


def case_folder(out_dir, case, path, taken, earlier=None):
    """(name, folder) of a case's output. The folder of ``earlier`` (:func:`earlier_results`)
    holding a result of the same input when there is one not taken in this run (``case``'s own
    first); else ``out_dir/<case>``, unless that name is already taken in this run or by a
    folder there named otherwise in case (macOS and Windows file systems; ``cohort.csv`` is
    taken) or the folder holds the result of another input (report.json ``inputs.ct``): then
    ``<case>_2``, ``<case>_3``, ... An earlier result of another input is never overwritten; a
    line on stderr says where the case went. ``taken``: {lower-case name: folder name} of this
    run's cases so far (updated)."""
    taken.setdefault("cohort.csv", "cohort.csv")
    same = sorted((name != case, name) for name, report in (earlier or {}).items()
                  if name.lower() not in taken and same_input(report, path))
    if same:
        name = same[0][1]
        taken[name.lower()] = name
        if name != case:
            print("nvseg: %s: its earlier result is in %s (case %s)" % (
                case, os.path.join(out_dir, name), name), file=sys.stderr)
        return name, os.path.join(out_dir, name)
    try:
        existing = dict((n.lower(), n) for n in os.listdir(out_dir))
    except OSError:
        existing = {}
    name, number = case, 2
    while (name.lower() in taken or existing.get(name.lower(), name) != name
           or _other_input(os.path.join(out_dir, name), path)):
        name, number = "%s_%d" % (case, number), number + 1
    taken[name.lower()] = name
    if name != case:
        holder = taken.get(case.lower(), existing.get(case.lower(), case))
        print("nvseg: %s: written to %s (%s holds another case)" % (
            case, os.path.join(out_dir, name), os.path.join(out_dir, holder)), file=sys.stderr)
    return name, os.path.join(out_dir, name)


def _report(folder):
    """The report.json in ``folder`` as a dict, or None (none there, unreadable, not a dict)."""
    try:
        with open(os.path.join(folder, REPORT)) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _other_input(folder, path):
    """Whether ``folder`` holds a report.json made from an input other than ``path``."""
    if not os.path.isfile(os.path.join(folder, REPORT)):
        return False
    report = _report(folder)
    return report is None or not same_input(report, path)


def newest_change(path):
    """Latest modification time (s since the epoch) of ``path``: a file, or of a folder's tree (a
    DICOM series or study): its files and its folders, whose own time changes when a file is
    added, removed or renamed in them (a file copied in with its old time kept); 0.0 when
    nothing can be read."""
    if not os.path.isdir(path):
        return max([_mtime(path)] + [_mtime(p) for p in _data_files(path)])
    newest = 0.0
    for root, _dirs, files in os.walk(path):
        for name in [""] + files:
            try:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
            except OSError:
                pass
    return newest


def _mtime(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def _data_files(path):
    """The voxel files of a detached header (MetaImage .mhd, NRRD .nhdr): the files beside it
    whose names start with its own stem (``s.mhd`` -> ``s.raw``, ``s.zraw``, ``s.raw.gz``)."""
    if not path.lower().endswith((".mhd", ".nhdr")):
        return []
    folder, stem = os.path.split(os.path.abspath(path))
    stem = os.path.splitext(stem)[0] + "."
    try:
        return [os.path.join(folder, n) for n in os.listdir(folder)
                if n.startswith(stem) and os.path.join(folder, n) != os.path.abspath(path)]
    except OSError:
        return []


def earlier_report(folder, path, expected):
    """(report, None) when ``folder`` holds the result of ``path`` made as ``expected`` says,
    else (None, why it is computed again).

    Args:
        folder: the case's output folder, ``OUT_DIR/<case>``.
        path: the case's input (CT file or DICOM folder).
        expected: {key: value} for the keys of :data:`SAME`, as this run would write them.
    """
    report_path = os.path.join(folder, REPORT)
    if not os.path.isfile(report_path):
        return None, None                       # nothing there: simply computed
    report = _report(folder)
    if not _reads_as_result(os.path.basename(folder), report):
        return None, "its earlier report.json cannot be read"
    if not same_input(report, path):
        return None, "the earlier result was made from %s" % (made_from(report) or
                                                              "another input")
    otherwise = made_otherwise(report, expected)
    if otherwise:
        return None, "the earlier result was made with %s" % otherwise
    if newest_change(path) > os.path.getmtime(report_path):
        return None, "the input changed after the earlier result was written"
    return report, None
