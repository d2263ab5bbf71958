"""The results table of a run in the scene (vtkMRMLTableNode): one row per measurement, columns
Left, Right (the patient's) and Asymmetry (%) as numbers (volumes in mm³, distances in mm; NaN
where there is none), and a Note saying why a number is missing: a side "not measurable" and
its reason, a value whose ray met no bone, an asymmetry above the threshold (flagged) or shown
but not flagged."""

import vtk

from .. import labels
from ..options import DEFAULTS
from ..report.report_json import asymmetry_flags, unflagged_nv_asymmetry

TABLE_ROWS = (
    ("negative_volume_mm3", "Negative volume (joint space)", "mm3", "negative_volume"),
    ("condyle_volume_mm3", "Condyle volume", "mm3", "condyle_volume"),
    ("joint_space_min_mm", "Joint space, minimum", "mm", None),
    ("joint_space_mean_mm", "Joint space, mean", "mm", None),
    ("joint_space_superior_mm", "Joint space, superior", "mm", None),
    ("joint_space_anterior_mm", "Joint space, anterior", "mm", None),
    ("joint_space_posterior_mm", "Joint space, posterior", "mm", None),
)
TABLE_COLUMNS = ("Measurement", "Unit", "Left", "Right", "Asymmetry (%)", "Note")
THRESHOLD_ATTRIBUTE = "NegativeVolumeSegmentation.AsymmetryThresholdPercent"   # of the Note


def _number(value):
    return float("nan") if value is None else float(value)


def _withheld(results, side):
    """The reason ``side`` of ``results`` is not measurable, or None when it was measured."""
    status = (results.get("quality") or {}).get(side) or {}
    if results.get(side) is not None and status.get("measurable", True):
        return None
    return status.get("reason") or "not measured"


def _note(results, key, asymmetry_key, withheld, first, flagged, threshold):
    """The Note of one row: each side not measurable (its reason on the first row, the words
    alone below it), a side measured without this value, an asymmetry flagged or not."""
    words = []
    for side in labels.SIDES:
        if withheld[side] is not None:
            words.append("%s not measurable%s" % (side, ": " + withheld[side] if first else ""))
        elif (results.get(side) or {}).get(key) is None:
            words.append("%s: no value (its rays met no temporal bone, or met air first)" % side)
    unflagged = unflagged_nv_asymmetry(results) if asymmetry_key == "negative_volume" else None
    if unflagged and not any(withheld.values()):
        words.append("asymmetry not flagged (%s)" % unflagged)
    if asymmetry_key in flagged:
        words.append("asymmetric: above %g %%" % threshold)
    return "; ".join(words)


def table_node_from_results(results, scene, name="Negative volume results", node=None,
                            asymmetry_threshold_percent=DEFAULTS["asymmetry_threshold_percent"]):
    """Table node of a report-like results dict: one row per measurement, Left / Right columns.

    ``results``: {"left": {...} or None, "right": {...} or None, "asymmetry_percent": {...},
    "quality": {side: {"measurable", "reason"}}} with the report.json keys (mm3, mm). A side
    not measurable (None, or withheld by ``quality``) shows NaN and its reason in the Note
    column; so does a value a measured side lacks. Rows whose key neither side has are left
    out, except the negative volume's, which is always there (a table is never empty).
    Asymmetry (%) = 100 |L - R| / (L + R) as given in the results, NaN unless both sides were
    measured; one above ``asymmetry_threshold_percent`` (the panel's red flag) says so in the
    Note (:func:`..report.report_json.asymmetry_flags`).
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    withheld = dict((side, _withheld(results, side)) for side in labels.SIDES)
    sides = [{} if withheld[side] is not None else results.get(side) or {}
             for side in labels.SIDES]
    asymmetry = {} if any(withheld.values()) else results.get("asymmetry_percent") or {}
    flagged = asymmetry_flags(results, asymmetry_threshold_percent)
    rows = [row for n, row in enumerate(TABLE_ROWS)
            if n == 0 or any(row[0] in side for side in sides)]
    columns = [vtk.vtkStringArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(),
               vtk.vtkDoubleArray(), vtk.vtkDoubleArray(), vtk.vtkStringArray()]
    for column, title in zip(columns, TABLE_COLUMNS):
        column.SetName(title)
    for n, (key, label, unit, asymmetry_key) in enumerate(rows):
        columns[0].InsertNextValue(label)
        columns[1].InsertNextValue(unit)
        columns[2].InsertNextValue(_number(sides[0].get(key)))
        columns[3].InsertNextValue(_number(sides[1].get(key)))
        columns[4].InsertNextValue(_number(asymmetry.get(asymmetry_key)) if asymmetry_key
                                   else float("nan"))
        columns[5].InsertNextValue(_note(results, key, asymmetry_key, withheld, n == 0,
                                         flagged, asymmetry_threshold_percent))
    table = vtk.vtkTable()
    for column in columns:
        table.AddColumn(column)
    node.SetAndObserveTable(table)
    for key, unit in (("Left", "mm / mm3"), ("Right", "mm / mm3"), ("Asymmetry (%)", "%")):
        node.SetColumnUnitLabel(key, unit)
    node.SetColumnDescription("Left", "the patient's left")
    node.SetColumnDescription("Right", "the patient's right")
    node.SetColumnDescription("Asymmetry (%)", "100 |L - R| / (L + R)")
    node.SetColumnDescription("Note", "why a number is missing; an asymmetry flagged or not")
    node.SetAttribute(THRESHOLD_ATTRIBUTE, repr(float(asymmetry_threshold_percent)))
    return node


def follow_threshold(results, threshold_percent, scene):
    """The results table of ``results`` (``results["nodes"]["table"]``) with its Note for
    ``threshold_percent`` (the panel's slider moved after the run): filled again only when
    written for another threshold. Returns the table node, or None when it is gone."""
    node = scene.GetNodeByID(((results or {}).get("nodes") or {}).get("table") or "")
    if node is None or not node.IsA("vtkMRMLTableNode"):
        return None
    if node.GetAttribute(THRESHOLD_ATTRIBUTE) != repr(float(threshold_percent)):
        table_node_from_results(results, scene, node.GetName(), node, threshold_percent)
    return node
