"""``nvseg run --resume``: which cases an earlier run into the same output folder already holds.

A case folder is written all or nothing (:func:`..io.results_folder.write_case`), so a
report.json in ``OUT_DIR/<case>/`` means the whole case is there. It is kept, not computed again,
only when it is the result this run would make: the same input (absolute path, no file of it
changed since the report was written), the same nvseg version, the same parameters
(report.json ``parameters``) and the same networks (``models`` and ``model_sha256``; a scan the
quality gate stopped before any network ran has none and does not depend on them). Anything
else is computed again, and the reason is said. Failed cases have no case folder: they are
always tried again.
"""

import json
import os

from ..io.results_folder import REPORT

SAME = ("version", "parameters", "models", "model_sha256")   # what the numbers depend on


def newest_change(path):
    """Latest modification time (s since the epoch) of ``path``: a file, or of a folder's tree (a
    DICOM series or study): its files and its folders, whose own time changes when a file is
    added, removed or renamed in them (a file copied in with its old time kept); 0.0 when
    nothing can be read."""
    if not os.path.isdir(path):
        try:
            return os.path.getmtime(path)
        except OSError:
            return 0.0
    newest = 0.0
    for root, _dirs, files in os.walk(path):
        for name in [""] + files:
            try:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
            except OSError:
                pass
    return newest


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
    try:
        with open(report_path) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None, "its earlier report.json cannot be read"
    if not isinstance(report, dict):
        return None, "its earlier report.json is not a report"
    if (report.get("inputs") or {}).get("ct") != os.path.abspath(path):
        return None, "the earlier result was made from %s" % (
            (report.get("inputs") or {}).get("ct") or "another input")
    for key in SAME:
        if key.startswith("model") and "models" not in report:
            continue                            # stopped by the scan's gate: no network ran
        if json.dumps(report.get(key), sort_keys=True) != json.dumps(expected.get(key),
                                                                     sort_keys=True):
            return None, "the earlier result was made with another %s" % key.replace("_", " ")
    if newest_change(path) > os.path.getmtime(report_path):
        return None, "the input changed after the earlier result was written"
    return report, None
