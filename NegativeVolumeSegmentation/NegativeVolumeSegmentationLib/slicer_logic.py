"""Logic of the 3D Slicer module, importable without Qt: MRML nodes in, nodes and numbers out.

For now the input is a segmentation node that already holds the condyle (MC) and temporal-bone
(TB) segments, named as in interfaces.md ("Left mandibular condyle", "Left temporal bone",
"Right ..."; case ignored), e.g. drawn in the Segment Editor. The logic exports them on the CT
grid, measures the negative volume (NV) of each joint with :mod:`.negative_volume` (LPS mm), and
writes back: the "Left/Right negative volume" segments, a results table node, and per joint a
condyle model (RAS) coloured by the joint-space thickness (mm). The CT-to-segmentation step is
added later. Runs the same in Slicer's GUI, in a background process, and under pytest with
slicer-core.
"""

import time

from . import labels as L
from . import mrml_bridge
from .errors import InputError
from .report import build_report

THICKNESS_MODEL_NAMES = {L.LEFT: "Left condyle joint space thickness",
                         L.RIGHT: "Right condyle joint space thickness"}
TABLE_NAME = "Negative volume results"
MODES = ("confined", "paper")


class NegativeVolumeSegmentationLogic(object):
    """Measures TMJ negative volume from MRML nodes; no GUI needed.

    ``progress``: optional callable (fraction 0-1, message) told what is being done.
    """

    def __init__(self, progress=None):
        self.progress = progress

    def _report(self, fraction, message):
        if self.progress is not None:
            self.progress(fraction, message)

    def process(self, inputVolumeNode, segmentationNode, max_distance_mm=10.0, mode="confined",
                cube_mm=30.0, show_thickness=True, create_surfaces=True, table_node=None):
        """Measure both joints and write the results into the scene.

        Args:
            inputVolumeNode: the CT (vtkMRMLScalarVolumeNode); its grid is the measuring grid.
                None: the segmentation's own reference geometry is used.
            segmentationNode: vtkMRMLSegmentationNode holding the MC and TB segments.
            max_distance_mm: longest inflation ray (mm); mode: "confined" or "paper";
            cube_mm: paper-mode clipping cube edge (mm).
            show_thickness: add / update the condyle thickness models.
            create_surfaces: build closed surfaces so that the segments show in 3D.
            table_node: vtkMRMLTableNode to fill (default: one named "Negative volume results").

        Returns:
            the report.json dict (:func:`report.build_report`: "left", "right" values or None,
            "asymmetry_percent", "warnings", "timings_s", ...) plus "nodes": the IDs of the table,
            the NV segments ({label value: segment ID}) and the thickness models ({side: ID}).
        """
        start = time.perf_counter()
        if segmentationNode is None:
            raise InputError("no segmentation selected: pick the segmentation holding the "
                             "condyle and temporal bone segments")
        if mode not in MODES:
            raise InputError("unknown mode %r; expected confined or paper" % (mode,))
        scene = segmentationNode.GetScene()
        self._report(0.05, "Exporting condyle and temporal bone segments")
        structures = [L.CONDYLE[s] for s in L.SIDES] + [L.TEMPORAL_BONE[s] for s in L.SIDES]
        label_image, found = mrml_bridge.labels_from_segmentation(
            segmentationNode, inputVolumeNode, values=structures)
        complete = [s for s in L.SIDES
                    if L.CONDYLE[s] in found and L.TEMPORAL_BONE[s] in found]
        if not complete:
            raise InputError(
                "segmentation %r needs a condyle and a temporal bone segment of one side, named "
                "%r and %r (or the right-side names)"
                % (segmentationNode.GetName(), L.BY_VALUE[L.CONDYLE[L.LEFT]].name,
                   L.BY_VALUE[L.TEMPORAL_BONE[L.LEFT]].name))

        self._report(0.2, "Measuring the negative volume")
        from .negative_volume import measure_negative_volume

        measured = measure_negative_volume(label_image, max_distance=float(max_distance_mm),
                                           mode=mode, cube_mm=float(cube_mm))

        self._report(0.7, "Writing negative volume segments")
        for side in L.SIDES:  # stale NV segments of an earlier run must not survive
            old = mrml_bridge.find_segment_id(segmentationNode,
                                              L.BY_VALUE[L.NEGATIVE_VOLUME[side]].name)
            if old is not None:
                segmentationNode.GetSegmentation().RemoveSegment(old)
        nv_values = [L.NEGATIVE_VOLUME[s] for s in L.SIDES if measured.sides[s] is not None]
        segments = mrml_bridge.segmentation_from_labels(measured.labels, segmentationNode,
                                                        values=nv_values)
        if create_surfaces:
            self._report(0.8, "Building 3D surfaces")
            mrml_bridge.create_closed_surfaces(segmentationNode)

        self._report(0.9, "Adding thickness models and the results table")
        if table_node is None:
            table_node = scene.GetFirstNodeByName(TABLE_NAME)
            if table_node is not None and not table_node.IsA("vtkMRMLTableNode"):
                table_node = None
        models = {}
        if show_thickness:
            for side in L.SIDES:
                mesh = measured.meshes.get(side, {}).get("condyle")
                if mesh is None:
                    continue
                node = scene.GetFirstNodeByName(THICKNESS_MODEL_NAMES[side])
                if node is not None and not node.IsA("vtkMRMLModelNode"):
                    node = None
                node = mrml_bridge.model_node_from_polydata(
                    mesh, scene, THICKNESS_MODEL_NAMES[side], node=node)
                models[side] = node.GetID()
        timings = dict(measured.timings_s)
        timings["total"] = time.perf_counter() - start
        results = build_report(measured.sides, measured.warnings, timings)
        table_node = mrml_bridge.table_node_from_results(results, scene, TABLE_NAME, table_node)
        results["nodes"] = {"table": table_node.GetID(), "segments": segments,
                            "thickness_models": models}
        self._report(1.0, "Done")
        return results
