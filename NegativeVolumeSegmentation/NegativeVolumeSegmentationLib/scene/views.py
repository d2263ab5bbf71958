"""What the user sees after a run: slice views centred on a joint, and the panel's texts.

``results``: the dict :meth:`.logic.MeasurementLogic.process` returns (report.json keys plus
``joint_centers_ras_mm``). Volumes in mm³, distances in mm, RAS coordinates in the scene.
"""

import contextlib

import slicer

from .. import labels as L
from ..options import DEFAULTS
from ..report.report_json import asymmetry_flags, unflagged_nv_asymmetry


def show_results(results, inputVolumeNode=None, side=None, field_of_view_mm=80.0, scene=None):
    """Point the slice views at a joint: the CT as background of every slice view, each view
    centred on the joint's condyle centre and zoomed to ``field_of_view_mm`` (the smaller side).

    ``side``: "left" / "right"; default the first measured side. Returns the side shown (None
    when no side was measured). Needs slice nodes in the scene (Slicer's views); without any it
    does nothing.
    """
    if scene is None:
        scene = (inputVolumeNode.GetScene() if inputVolumeNode is not None
                 else slicer.mrmlScene)
    centres = results.get("joint_centers_ras_mm") or {}
    if side is None:
        side = next((s for s in L.SIDES if centres.get(s) is not None), None)
    if inputVolumeNode is not None:
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
            composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
            composite.SetBackgroundVolumeID(inputVolumeNode.GetID())
    if side is None or centres.get(side) is None:
        return None
    r, a, s = centres[side]
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
        slice_node = scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
        fov = slice_node.GetFieldOfView()
        smaller = min(fov[0], fov[1])
        if smaller > 0:
            scale = field_of_view_mm / smaller
            slice_node.SetFieldOfView(fov[0] * scale, fov[1] * scale, fov[2])
        slice_node.JumpSliceByCentering(r, a, s)
    return side


def results_summary(results,
                    asymmetry_threshold_percent=DEFAULTS["asymmetry_threshold_percent"]):
    """Texts for the panel's results area (and the batch log) from a results dict.

    Returns {"left_nv", "right_nv", "left_condyle", "right_condyle", "left_space",
    "right_space", "asymmetry", "flag" (text, "" when below the threshold), "asymmetric"
    (bool), "status"}. Volumes in mm³, spaces in mm, asymmetry 100 |L - R| / (L + R) in %.
    A side the quality gate found not measurable (``results["quality"][side]``) reads
    "not measurable: <reason>" where its numbers would be, and no asymmetry is flagged.
    """
    out = {}
    quality = (results or {}).get("quality") or {}
    unmeasured = False
    for side in L.SIDES:
        values = (results or {}).get(side)
        status = quality.get(side) or {}
        if values is None or status.get("measurable") is False:
            unmeasured = unmeasured or results is not None
            empty = "–" if results is None else (
                "not measurable: %s" % status["reason"] if status.get("reason")
                else "not measured")
            out[side + "_nv"] = out[side + "_condyle"] = empty
            out[side + "_space"] = "–"
            continue
        out[side + "_nv"] = "%.1f mm³" % values["negative_volume_mm3"]
        out[side + "_condyle"] = "%.1f mm³" % values["condyle_volume_mm3"]
        out[side + "_space"] = "min %s mm (mean %s mm)" % (
            _mm(values.get("joint_space_min_mm")), _mm(values.get("joint_space_mean_mm")))
    asymmetry = (results or {}).get("asymmetry_percent") or {}
    nv, condyle = asymmetry.get("negative_volume"), asymmetry.get("condyle_volume")
    if unmeasured:   # never an asymmetry against a joint that could not be measured
        nv = condyle = None
    if nv is None:
        out["asymmetry"] = "–"
    else:
        out["asymmetry"] = "NV %.1f %%, condyle %s" % (
            nv, "–" if condyle is None else "%.1f %%" % condyle)
    unflagged = None if nv is None else unflagged_nv_asymmetry(results)
    if unflagged:
        out["asymmetry"] += " (NV not flagged: a condyle not seated, %s)" % unflagged
    flagged = [key.replace("_", " ") for key in asymmetry_flags(
        results or {}, asymmetry_threshold_percent)]
    out["asymmetric"] = bool(flagged)
    out["flag"] = ("Asymmetric: %s above %g %%" % (" and ".join(flagged),
                                                     asymmetry_threshold_percent)
                   if flagged else "")
    if results is None:
        out["status"] = ""
    else:
        warnings = results.get("warnings") or []
        seconds = (results.get("timings_s") or {}).get("total")
        cautions = ["Caution: " + c for c in results.get("cautions") or []]
        scan = quality.get("scan") or {}
        verdict = ([] if scan.get("measurable", True)
                   else ["Not measurable: %s." % scan.get("reason")])
        out["status"] = ("Done" + ("" if seconds is None else " in %.1f s" % seconds) + "."
                         + "".join(" " + line for line in verdict + cautions + warnings))
    return out


def _mm(value):
    return "–" if value is None else "%.2f" % value


def apply_state(parameters):
    """(reason, tooltip) for the panel's Apply button: ``reason`` is why it cannot run (None
    when it can), ``tooltip`` what it will do. ``parameters``: the module's parameter node
    (``measureExisting``, ``inputVolume``, ``outputSegmentation``), or None."""
    if parameters is None:
        return "No parameters", ""
    if parameters.measureExisting:
        if not parameters.outputSegmentation:
            return ("Select the segmentation holding the condyle and temporal bone segments "
                    "(Output segmentation)"), ""
        return None, "Measure the negative volume of the segments in the output segmentation"
    if not parameters.inputVolume:
        return "Select the head CT", ""
    return None, "Segment both joints of the CT and measure their negative volume"


def show_table(table_node):
    """In Slicer's GUI: a layout with a table view showing ``table_node`` (None: layout kept),
    and the first 3D view centred on what it shows. Without a layout manager (batch, pytest)
    nothing."""
    layout_manager = slicer.app.layoutManager() if hasattr(slicer, "app") else None
    if layout_manager is None:
        return
    if table_node is not None:
        layout = slicer.modules.tables.logic().GetLayoutWithTable(layout_manager.layout)
        layout_manager.setLayout(layout)
        application_logic = slicer.app.applicationLogic()
        application_logic.GetSelectionNode().SetActiveTableID(table_node.GetID())
        application_logic.PropagateTableSelection()
    if layout_manager.threeDViewCount > 0:
        layout_manager.threeDWidget(0).threeDView().resetFocalPoint()


@contextlib.contextmanager
def wait_cursor():
    """Slicer's wait cursor while the block runs (a PyTorch download)."""
    import qt

    slicer.app.setOverrideCursor(qt.Qt.WaitCursor)
    try:
        yield
    finally:
        slicer.app.restoreOverrideCursor()
