"""cohort.csv: one row per case of a cohort, the same from ``nvseg run`` and from a script in
Slicer's Python over the module's Logic (README, "Batch console"); columns in docs/interfaces.md.

Numbers as report.json has them (mm^3 and mm, 3 decimals; asymmetry in %, 2 decimals), empty
where a side was not measured; ``left_measurable`` / ``left_reason`` (and right) from the quality
gate, so a "not measurable" side carries its reason.
"""

import csv
import io
import os

from ..errors import one_line

COLUMNS = ("case", "input", "series", "status", "error",
           "left_negative_volume_mm3", "right_negative_volume_mm3",
           "left_condyle_volume_mm3", "right_condyle_volume_mm3",
           "left_joint_space_min_mm", "right_joint_space_min_mm",
           "left_joint_space_mean_mm", "right_joint_space_mean_mm",
           "left_joint_space_superior_mm", "right_joint_space_superior_mm",
           "left_joint_space_anterior_mm", "right_joint_space_anterior_mm",
           "left_joint_space_posterior_mm", "right_joint_space_posterior_mm",
           "asymmetry_negative_volume_percent", "asymmetry_condyle_volume_percent", "mode",
           "left_measurable", "left_reason", "right_measurable", "right_reason", "cautions",
           "warnings", "seconds")


def series_cell(record):
    """cohort.csv's ``series``: the DICOM series measured (report.json ``inputs.dicom_series``)
    as ``2 'Head bone' (H70h)``; empty for a CT file."""
    if not record:
        return ""
    return " ".join([record.get("number") or record["uid"]]
                    + (["'%s'" % record["description"]] if record.get("description") else [])
                    + (["(%s)" % record["kernel"]] if record.get("kernel") else []))


def cohort_row(case, path, rep=None, error=None, seconds=0.0):
    """One cohort.csv row (a dict of :data:`COLUMNS`, strings) for the case ``case`` read from
    ``path``: from its report (report.json's dict, or the Slicer Logic's result, which holds the
    same keys) or, for a case that failed, from its ``error``; ``seconds`` it took."""
    row = dict((key, "") for key in COLUMNS)
    row.update(case=case, input=one_line(os.path.abspath(path)) if path else "",
               seconds="%.2f" % seconds)
    if error is not None:
        row.update(status="failed", error=one_line(error))
        return row
    row.update(status="ok",
               series=one_line(series_cell((rep.get("inputs") or {}).get("dicom_series"))))
    measured = {}
    for side in ("left", "right"):   # the quality gate (docs/method.md, "Quality gate")
        status = (rep.get("quality") or {}).get(side) or {}
        measured[side] = bool(status.get("measurable", rep.get(side) is not None))
        row[side + "_measurable"] = "yes" if measured[side] else "no"
        row[side + "_reason"] = one_line(status.get("reason") or "")
    for side in ("left", "right"):   # no number for a side the gate withheld
        values = (rep.get(side) or {}) if measured[side] else {}
        for key in ("negative_volume_mm3", "condyle_volume_mm3", "joint_space_min_mm",
                    "joint_space_mean_mm", "joint_space_superior_mm", "joint_space_anterior_mm",
                    "joint_space_posterior_mm"):
            value = values.get(key)
            row["%s_%s" % (side, key)] = "" if value is None else "%.3f" % value
    for key in ("negative_volume", "condyle_volume"):
        value = (rep.get("asymmetry_percent") or {}).get(key)
        if not (measured["left"] and measured["right"]):
            value = None                 # never an asymmetry against a side withheld
        row["asymmetry_%s_percent" % key] = "" if value is None else "%.2f" % value
    row["mode"] = (rep.get("parameters") or {}).get("mode", "")
    row["cautions"] = " | ".join(one_line(line) for line in rep.get("cautions") or [])
    row["warnings"] = " | ".join(one_line(line) for line in rep.get("warnings") or [])
    return row


def write_cohort_csv(rows, out_dir):
    """``out_dir/cohort.csv`` holding ``rows`` (written atomically); returns its path."""
    from ..io import results_folder

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with results_folder.staged_output(out_dir) as stage:
        with open(os.path.join(stage, "cohort.csv"), "w", newline="", encoding="utf-8") as handle:
            handle.write(text.getvalue())
    return os.path.join(out_dir, "cohort.csv")


def summary(rows):
    """One line on a cohort's rows: how many cases were measured on both sides, on one, on
    neither (every side "not measurable"), and failed."""
    counts = [0, 0, 0, 0]
    for row in rows:
        if row["status"] != "ok":
            counts[3] += 1
        else:
            counts[2 - [row["left_measurable"], row["right_measurable"]].count("yes")] += 1
    return ("%d cases: %d measured on both sides, %d on one side, %d not measurable, %d failed"
            % ((len(rows),) + tuple(counts)))
