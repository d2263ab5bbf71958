"""The results table of a run in the scene (vtkMRMLTableNode): one row per measurement, columns
Left, Right and Asymmetry (%). Volumes in mm³, distances in mm."""

import vtk

from .. import labels

TABLE_ROWS = (
    ("negative_volume_mm3", "Negative volume (joint space)", "mm3", "negative_volume"),
    ("condyle_volume_mm3", "Condyle volume", "mm3", "condyle_volume"),
    ("joint_space_min_mm", "Joint space, minimum", "mm", None),
    ("joint_space_mean_mm", "Joint space, mean", "mm", None),
    ("joint_space_superior_mm", "Joint space, superior", "mm", None),
    ("joint_space_anterior_mm", "Joint space, anterior", "mm", None),
    ("joint_space_posterior_mm", "Joint space, posterior", "mm", None),
)
TABLE_COLUMNS = ("Measurement", "Unit", "Left", "Right", "Asymmetry (%)")


def _number(value):
    return float("nan") if value is None else float(value)


def table_node_from_results(results, scene, name="Negative volume results", node=None):
    """Table node of a report-like results dict: one row per measurement, Left / Right columns.

    ``results``: {"left": {...} or None, "right": {...} or None, "asymmetry_percent": {...}} with
    the report.json keys (mm3, mm); a missing side or value shows as NaN. Rows whose key neither
    side has are left out. Asymmetry (%) = 100 |L - R| / (L + R) as given in the results.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    sides = [results.get(side) or {} for side in labels.SIDES]
    asymmetry = results.get("asymmetry_percent") or {}
    rows = [row for row in TABLE_ROWS if any(row[0] in side for side in sides)]
    columns = [vtk.vtkStringArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray(),
               vtk.vtkDoubleArray(), vtk.vtkDoubleArray()]
    for column, title in zip(columns, TABLE_COLUMNS):
        column.SetName(title)
    for key, label, unit, asymmetry_key in rows:
        columns[0].InsertNextValue(label)
        columns[1].InsertNextValue(unit)
        columns[2].InsertNextValue(_number(sides[0].get(key)))
        columns[3].InsertNextValue(_number(sides[1].get(key)))
        columns[4].InsertNextValue(_number(asymmetry.get(asymmetry_key)) if asymmetry_key
                                   else float("nan"))
    table = vtk.vtkTable()
    for column in columns:
        table.AddColumn(column)
    node.SetAndObserveTable(table)
    for key, unit in (("Left", "mm / mm3"), ("Right", "mm / mm3"), ("Asymmetry (%)", "%")):
        node.SetColumnUnitLabel(key, unit)
    node.SetColumnDescription("Asymmetry (%)", "100 |L - R| / (L + R)")
    return node
