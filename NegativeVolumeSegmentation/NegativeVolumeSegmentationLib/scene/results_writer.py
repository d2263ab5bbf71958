"""Writing a run's results into the Slicer scene: the one place that does it.

Segments (names and colours of docs/interfaces.md) from the result's label map, closed surfaces
for 3D, per measured joint a condyle model coloured by joint-space thickness (mm) with a colour
legend, and the results table. In-process and background runs both end here, with the same
:class:`..case_result.CaseResult`. The result is in LPS mm; :mod:`.mrml_bridge` converts to RAS.

A run's outputs belong to its CT: the segmentation and the table reference the CT volume node
(role :data:`INPUT_ROLE`), and the segmentation references its table and thickness models, so a
run on another CT (another segmentation) never overwrites them; a re-run into the same
segmentation replaces them.
"""

import slicer

from .. import labels as L
from ..report.report_json import asymmetry_flags
from ..errors import InputError
from . import mrml_bridge
from .results_table import table_node_from_results

THICKNESS_MODEL_NAMES = {L.LEFT: "Left condyle joint space thickness",   # without a CT; else
                         L.RIGHT: "Right condyle joint space thickness"}  # "<CT name> left ..."
TABLE_NAME = "Negative volume results"  # without a CT; else "<CT name> negative volume results"
TABLE_SUFFIX = " negative volume results"
SEGMENTATION_SUFFIX = " TMJ segmentation"
# node reference roles: the CT a run's segmentation / table was made for; the segmentation's
# table and thickness models
INPUT_ROLE = "NegativeVolumeSegmentation.inputVolume"
TABLE_ROLE = "NegativeVolumeSegmentation.resultsTable"
THICKNESS_ROLES = {L.LEFT: "NegativeVolumeSegmentation.leftThicknessModel",
                   L.RIGHT: "NegativeVolumeSegmentation.rightThicknessModel"}
MC_TB_VALUES = tuple([L.CONDYLE[s] for s in L.SIDES] + [L.TEMPORAL_BONE[s] for s in L.SIDES])
NV_VALUES = tuple(L.NEGATIVE_VOLUME[s] for s in L.SIDES)
ALL_VALUES = tuple(s.value for s in L.SEGMENTS)


def segment_values(options):
    """Label values a run writes as segments: all six after segmenting the CT, the two NV
    segments when the condyle / temporal-bone segments were given."""
    return ALL_VALUES if options.segment else NV_VALUES


def _remove_with_display_nodes(scene, node):
    """Remove ``node`` and its display nodes (a thickness model's colour legend is one)."""
    count = node.GetNumberOfDisplayNodes() if hasattr(node, "GetNumberOfDisplayNodes") else 0
    displays = [node.GetNthDisplayNode(index) for index in range(count)]  # before any goes
    for display in displays:
        if display is not None:
            scene.RemoveNode(display)
    scene.RemoveNode(node)


def made_for_volume(node):
    """The CT volume node a run wrote ``node`` (its segmentation or table) for, else None."""
    return node.GetNodeReference(INPUT_ROLE) if node is not None else None


def made_for_other_volume(node, volume_node):
    """True when ``node`` holds the results of a run on another CT than ``volume_node``."""
    made_for = made_for_volume(node)
    return (made_for is not None and volume_node is not None
            and made_for.GetID() != volume_node.GetID())


def removed_node(inputVolumeNode, segmentationNode):
    """One line naming the CT or the output segmentation when it is no longer in a scene (removed
    while a background run computed), else None."""
    for node, what in ((inputVolumeNode, "the CT volume"),
                       (segmentationNode, "the output segmentation")):
        if node is not None and node.GetScene() is None:
            return ("%s %r was removed from the scene during the run; nothing written"
                    % (what, node.GetName()))
    return None


def thickness_model_name(side, base=None):
    """The thickness model's name: "<CT name> left condyle joint space thickness", so that the
    models of several CTs in one scene are told apart (as their segmentations and tables are),
    or :data:`THICKNESS_MODEL_NAMES` without a CT name (``base`` None)."""
    name = THICKNESS_MODEL_NAMES[side]
    return name if base is None else "%s %s" % (base, name[0].lower() + name[1:])


def _write_thickness_models(result, options, segmentationNode, scene, base=None):
    """Per measured joint the segmentation's own thickness model (with its colour legend),
    added or updated (named by :func:`thickness_model_name` with the CT's name ``base``); a
    model of an earlier run into this segmentation that this run does not write (side not
    measured, no mesh, thickness models off) is removed with its legend.
    Returns ({side: model ID}, {side: legend ID})."""
    models, legends = {}, {}
    for side in L.SIDES:
        role = THICKNESS_ROLES[side]
        node = segmentationNode.GetNodeReference(role)
        mesh = (result.meshes.get(side) or {}).get("condyle")
        if result.report.get(side) is None or mesh is None or not options.show_thickness:
            if node is not None:
                _remove_with_display_nodes(scene, node)  # a stale model of an earlier run
            segmentationNode.RemoveNodeReferenceIDs(role)
            continue
        name = thickness_model_name(side, base)
        if node is None:   # "..._1" when taken (a second segmentation of the same CT)
            name = scene.GenerateUniqueName(name)
        node = mrml_bridge.model_node_from_polydata(mesh, scene, name, node=node)
        segmentationNode.SetNodeReferenceID(role, node.GetID())
        models[side] = node.GetID()
        legend = mrml_bridge.add_color_legend(node)
        if legend is not None:
            legends[side] = legend.GetID()
    return models, legends


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


def _name_given_segments_by_side(segmentation_node):
    """The given condyle / temporal-bone segments drawn on the other side of the patient than
    their names say (the engine measured them by where they lie: report.json
    ``inputs.label_sides_swapped``): each named and coloured as the side it lies on, so that the
    segments, the NV segments and the table agree (their voxels and label values untouched)."""
    segmentation = segmentation_node.GetSegmentation()
    found = []
    for left, right in ((L.CONDYLE[L.LEFT], L.CONDYLE[L.RIGHT]),
                        (L.TEMPORAL_BONE[L.LEFT], L.TEMPORAL_BONE[L.RIGHT])):
        for value, now in ((left, right), (right, left)):
            segment_id = mrml_bridge.find_segment_id(segmentation_node, L.BY_VALUE[value].name)
            if segment_id is not None:
                found.append((segment_id, L.BY_VALUE[now]))
    for segment_id, info in found:   # all found first: a renamed segment is not found again
        segment = segmentation.GetSegment(segment_id)
        segment.SetName(info.name)
        segment.SetColor(*info.color)


def write_results(result, inputVolumeNode, segmentationNode, options, table_node=None,
                  scene=None):
    """Write a run's results into the scene; the one place that writes results.

    Creates the output segmentation when ``segmentationNode`` is None ("<CT name> TMJ
    segmentation", "..._1" when that name is taken, as Slicer names a second copy; CT geometry). Segments of :func:`segment_values` with the docs/interfaces.md
    names and colours replace same-named ones (stale ones of a side not measured now are
    removed), closed surfaces are built with ``options.smoothing`` (``options``: a
    :class:`..options.RunOptions`), per measured joint the thickness
    model (with its colour legend) is added or updated (others of an earlier run into this
    segmentation are removed), and the table is filled: ``table_node``, else the segmentation's
    own table of an earlier run, else a new "<CT name> negative volume results". The
    segmentation and the table are marked as made for ``inputVolumeNode`` (:data:`INPUT_ROLE`).

    Returns the report dict plus ``nodes`` (IDs: ``segmentation``, ``segments`` {label value:
    segment ID}, ``table``, ``thickness_models`` {side: ID}, ``color_legends`` {side: ID}),
    ``joint_centers_ras_mm`` {side: RAS point or None} and ``asymmetry_flags`` (the
    asymmetries above ``options.asymmetry_threshold_percent``, the panel's red flag:
    "negative_volume" / "condyle_volume"; the table's Note says it too).
    """
    owner = segmentationNode if segmentationNode is not None else inputVolumeNode
    if scene is None and owner is not None:
        scene = owner.GetScene()
    gone = removed_node(inputVolumeNode, segmentationNode)
    if scene is None or gone:
        raise InputError(gone or "the CT volume and the output segmentation are in no scene")
    base = inputVolumeNode.GetName() if inputVolumeNode is not None else None
    created = segmentationNode is None
    if created:
        name = scene.GenerateUniqueName((base or "CT") + SEGMENTATION_SUFFIX)   # _1 if taken
        segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        segmentationNode.CreateDefaultDisplayNodes()
        if inputVolumeNode is not None:
            segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(inputVolumeNode)
    kept = None
    if not created:   # the given segmentation's segments as they were, should writing fail
        kept = slicer.vtkSegmentation()
        kept.DeepCopy(segmentationNode.GetSegmentation())
    try:
        return _write_into(result, inputVolumeNode, segmentationNode, options, table_node,
                           scene, base)
    except Exception:   # a segmentation made for this run does not outlive its failure; a
        if created:     # given one gets its segments back (its table still shows their numbers)
            for side in L.SIDES:
                model = segmentationNode.GetNodeReference(THICKNESS_ROLES[side])
                if model is not None:
                    _remove_with_display_nodes(scene, model)
            _remove_with_display_nodes(scene, segmentationNode)
        else:
            segmentationNode.GetSegmentation().DeepCopy(kept)
            segmentationNode.Modified()
        raise


def _write_into(result, inputVolumeNode, segmentationNode, options, table_node, scene, base):
    """:func:`write_results` into ``segmentationNode`` (made or given)."""
    mrml_bridge.check_linear_transform(segmentationNode)   # before any segment is removed
    segmentation = segmentationNode.GetSegmentation()
    values = segment_values(options)
    if not options.segment and (result.report.get("inputs") or {}).get("label_sides_swapped"):
        _name_given_segments_by_side(segmentationNode)
    for value in values:  # stale segments of an earlier run must not survive
        old = mrml_bridge.find_segment_id(segmentationNode, L.BY_VALUE[value].name)
        if old is not None:
            segmentation.RemoveSegment(old)
    segments = mrml_bridge.segmentation_from_labels(result.labels, segmentationNode,
                                                    values=list(values))
    if options.create_surfaces:
        mrml_bridge.create_closed_surfaces(segmentationNode, options.smoothing)

    if inputVolumeNode is not None:
        segmentationNode.SetNodeReferenceID(INPUT_ROLE, inputVolumeNode.GetID())
    models, legends = _write_thickness_models(result, options, segmentationNode, scene, base)
    display_segments(segmentationNode)

    report = result.report
    if table_node is None or table_node.GetScene() is None:  # none, or removed meanwhile
        table_node = segmentationNode.GetNodeReference(TABLE_ROLE)
    table_node = table_node_from_results(
        report, scene, TABLE_NAME if base is None else base + TABLE_SUFFIX, table_node,
        options.asymmetry_threshold_percent)
    segmentationNode.SetNodeReferenceID(TABLE_ROLE, table_node.GetID())
    if inputVolumeNode is not None:
        table_node.SetNodeReferenceID(INPUT_ROLE, inputVolumeNode.GetID())
    results = dict(report)
    results["asymmetry_flags"] = asymmetry_flags(report, options.asymmetry_threshold_percent)
    results["nodes"] = {"segmentation": segmentationNode.GetID(), "segments": segments,
                        "table": table_node.GetID(), "thickness_models": models,
                        "color_legends": legends}
    results["joint_centers_ras_mm"] = dict(
        (side, None if report.get(side) is None
         else mrml_bridge.lps_to_ras(report[side]["condyle_center_lps_mm"]))
        for side in L.SIDES)
    return results
