"""Writing a run's results into the Slicer scene: the one place that does it.

Segments (names and colours of docs/interfaces.md) from the result's label map, closed surfaces
for 3D, per measured joint a condyle model coloured by joint-space thickness (mm) with a colour
legend, and the results table. In-process and background runs both end here, with the same
:class:`..case_result.CaseResult`. The result is in LPS mm; :mod:`.mrml_bridge` converts to RAS.
"""

import slicer

from .. import labels as L
from . import mrml_bridge
from .results_table import table_node_from_results

THICKNESS_MODEL_NAMES = {L.LEFT: "Left condyle joint space thickness",
                         L.RIGHT: "Right condyle joint space thickness"}
TABLE_NAME = "Negative volume results"
SEGMENTATION_SUFFIX = " TMJ segmentation"
MC_TB_VALUES = tuple([L.CONDYLE[s] for s in L.SIDES] + [L.TEMPORAL_BONE[s] for s in L.SIDES])
NV_VALUES = tuple(L.NEGATIVE_VOLUME[s] for s in L.SIDES)
ALL_VALUES = tuple(s.value for s in L.SEGMENTS)


def segment_values(options):
    """Label values a run writes as segments: all six after segmenting the CT, the two NV
    segments when the condyle / temporal-bone segments were given."""
    return ALL_VALUES if options.segment else NV_VALUES


def _remove_with_display_nodes(scene, node):
    for index in range(node.GetNumberOfDisplayNodes() if hasattr(node, "GetNumberOfDisplayNodes")
                       else 0):
        display = node.GetNthDisplayNode(index)
        if display is not None:
            scene.RemoveNode(display)
    scene.RemoveNode(node)


def _named_node(scene, name, class_name):
    node = scene.GetFirstNodeByName(name)
    if node is not None and not node.IsA(class_name):
        return None
    return node


def display_segments(segmentation_node):
    """Segments over the CT in 2D (fill and outline) and as closed surfaces in 3D. Per-segment
    opacities are left as they are (the user's choice; to see a thickness model inside its
    condyle segment, hide that segment in 3D or lower its opacity)."""
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()
    display = segmentation_node.GetDisplayNode()
    display.SetVisibility(True)
    display.SetVisibility2DFill(True)
    display.SetVisibility2DOutline(True)
    display.SetVisibility3D(True)
    display.SetPreferredDisplayRepresentationName3D(
        slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName())


def write_results(result, inputVolumeNode, segmentationNode, options, table_node=None,
                  scene=None):
    """Write a run's results into the scene; the one place that writes results.

    Creates the output segmentation when ``segmentationNode`` is None ("<CT name> TMJ
    segmentation", CT geometry). Segments of :func:`segment_values` with the docs/interfaces.md
    names and colours replace same-named ones (stale ones of a side not measured now are
    removed), closed surfaces are built with ``options.smoothing`` (``options``: a
    :class:`..options.RunOptions`), per measured joint the thickness
    model (with its colour legend) is added or updated, and the table is filled.

    Returns the report dict plus ``nodes`` (IDs: ``segmentation``, ``segments`` {label value:
    segment ID}, ``table``, ``thickness_models`` {side: ID}, ``color_legends`` {side: ID}) and
    ``joint_centers_ras_mm`` {side: RAS point or None}.
    """
    if scene is None:
        scene = (segmentationNode or inputVolumeNode).GetScene()
    if segmentationNode is None:
        base = inputVolumeNode.GetName() if inputVolumeNode is not None else "CT"
        segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                   base + SEGMENTATION_SUFFIX)
        segmentationNode.CreateDefaultDisplayNodes()
        if inputVolumeNode is not None:
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(inputVolumeNode)
    segmentation = segmentationNode.GetSegmentation()
    values = segment_values(options)
    for value in values:  # stale segments of an earlier run must not survive
        old = mrml_bridge.find_segment_id(segmentationNode, L.BY_VALUE[value].name)
        if old is not None:
            segmentation.RemoveSegment(old)
    segments = mrml_bridge.segmentation_from_labels(result.labels, segmentationNode,
                                                    values=list(values))
    if options.create_surfaces:
        mrml_bridge.create_closed_surfaces(segmentationNode, options.smoothing)

    models, legends = {}, {}
    report = result.report
    for side in L.SIDES:
        node = _named_node(scene, THICKNESS_MODEL_NAMES[side], "vtkMRMLModelNode")
        mesh = (result.meshes.get(side) or {}).get("condyle")
        if report.get(side) is None or mesh is None or not options.show_thickness:
            if node is not None and report.get(side) is None:
                _remove_with_display_nodes(scene, node)  # a stale model of an earlier run
            continue
        node = mrml_bridge.model_node_from_polydata(mesh, scene, THICKNESS_MODEL_NAMES[side],
                                                    node=node)
        models[side] = node.GetID()
        legend = mrml_bridge.add_color_legend(node)
        if legend is not None:
            legends[side] = legend.GetID()
    display_segments(segmentationNode)

    if table_node is None:
        table_node = _named_node(scene, TABLE_NAME, "vtkMRMLTableNode")
    table_node = table_node_from_results(report, scene, TABLE_NAME, table_node)
    results = dict(report)
    results["nodes"] = {"segmentation": segmentationNode.GetID(), "segments": segments,
                        "table": table_node.GetID(), "thickness_models": models,
                        "color_legends": legends}
    results["joint_centers_ras_mm"] = dict(
        (side, None if report.get(side) is None
         else mrml_bridge.lps_to_ras(report[side]["condyle_center_lps_mm"]))
        for side in L.SIDES)
    return results
