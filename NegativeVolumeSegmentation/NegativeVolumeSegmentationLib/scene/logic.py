"""Logic of the 3D Slicer module, importable without Qt: a CT volume node in, nodes and numbers out.

``MeasurementLogic.process(inputVolumeNode, outputSegmentationNode, **options)``
gets the mandibular condyle (MC) and temporal bone (TB) of both joints in one of two ways:

- ``segment=True`` (default): the whole pipeline on the CT (:func:`pipeline.run_case`: localise
  both joints, segment MC and TB with the bundled models, clean up), then the negative volume
  (NV) engine;
- ``segment=False``: the MC / TB segments already in the output segmentation, named as in
  interfaces.md (e.g. corrected in the Segment Editor), measured by the NV engine alone.

Everything the run produced is then written into the scene by :func:`write_results`, the one
place that writes results: the segments (all six, or the two NV segments when measuring existing
segments), closed surfaces for 3D, per joint a condyle model coloured by joint-space thickness
with a colour legend, and the results table. The background run (:mod:`.background`, a separate
process running the library's command line) loads its outputs through the same function, so
both give the same nodes and numbers. The library works in LPS mm, MRML in RAS mm;
:mod:`.mrml_bridge` converts. Runs the same in Slicer's GUI, in its batch console
(``Slicer --no-main-window --python-script``) and under pytest with slicer-core.
"""

import time

import slicer

from .. import labels as L
from . import mrml_bridge
from ..errors import InputError
from ..report.report_json import build_report

THICKNESS_MODEL_NAMES = {L.LEFT: "Left condyle joint space thickness",
                         L.RIGHT: "Right condyle joint space thickness"}
TABLE_NAME = "Negative volume results"
SEGMENTATION_SUFFIX = " TMJ segmentation"
MODES = ("confined", "paper")
DEVICES = ("auto", "cpu", "cuda")
MC_TB_VALUES = tuple([L.CONDYLE[s] for s in L.SIDES] + [L.TEMPORAL_BONE[s] for s in L.SIDES])
NV_VALUES = tuple(L.NEGATIVE_VOLUME[s] for s in L.SIDES)
ALL_VALUES = tuple(s.value for s in L.SEGMENTS)

# The options of a run (both in-process and background), with their defaults.
DEFAULT_OPTIONS = {
    "segment": True,          # True: segment the CT with the bundled models; False: measure the
                              # MC / TB segments already in the output segmentation
    "device": "auto",         # "auto" (CUDA when present, else CPU), "cpu" or "cuda"
    "max_distance_mm": 10.0,  # longest inflation ray (mm)
    "mode": "confined",       # "confined" (rays missing the TB give 0) or "paper" (Belikova)
    "cube_mm": 30.0,          # paper mode: edge of the clipping cube (mm)
    "smoothing": 0.5,         # closed-surface smoothing factor 0-1 (3D display only)
    "show_thickness": True,   # add the thickness-coloured condyle models and their legend
    "create_surfaces": True,  # build closed surfaces so that the segments show in 3D
    "enhance_tb": False,      # the paper's temporal-bone enhancement (segment=True only)
}

# Progress: stage -> (fraction of the run done when the stage starts, text for the panel).
# Pipeline stages are those of pipeline.STAGES (announced by run_case and by `nvseg run
# --progress-file`), plus the background run's own "start" / "write" and the scene writing.
SEGMENT_STAGES = {
    "start": (0.0, "Starting: loading PyTorch and the models"),
    "read": (0.08, "Reading the CT"),
    "localise": (0.12, "Finding both joints"),
    "segment": (0.25, "Segmenting condyle and temporal bone"),
    "postprocess": (0.65, "Cleaning up the segmentation"),
    "geometry": (0.68, "Measuring the negative volume"),
    "write": (0.8, "Saving the outputs"),
    "load": (0.9, "Writing segments, surfaces, models and the table"),
    "done": (1.0, "Done"),
}
MEASURE_STAGES = {
    "start": (0.0, "Starting"),
    "export": (0.05, "Exporting condyle and temporal bone segments"),
    "geometry": (0.2, "Measuring the negative volume"),
    "write": (0.8, "Saving the outputs"),
    "load": (0.9, "Writing segments, surfaces, models and the table"),
    "done": (1.0, "Done"),
}


def stage_progress(stage, segment=True):
    """(fraction 0-1, text) of a stage name; unknown stages keep fraction None."""
    table = SEGMENT_STAGES if segment else MEASURE_STAGES
    if stage in table:
        return table[stage]
    return None, str(stage)


def normalize_options(**options):
    """The run options (DEFAULT_OPTIONS filled in), checked; InputError names a bad one."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise InputError("unknown option(s) %s; known: %s"
                         % (", ".join(unknown), ", ".join(sorted(DEFAULT_OPTIONS))))
    out = dict(DEFAULT_OPTIONS)
    out.update(options)
    for key in ("segment", "show_thickness", "create_surfaces", "enhance_tb"):
        out[key] = bool(out[key])
    out["device"] = str(out["device"] or "auto").lower()
    if out["device"] not in DEVICES:
        raise InputError("device must be one of %s, got %r" % ("|".join(DEVICES), out["device"]))
    if out["mode"] not in MODES:
        raise InputError("unknown mode %r; expected confined or paper" % (out["mode"],))
    for key in ("max_distance_mm", "cube_mm", "smoothing"):
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            raise InputError("%s must be a number, got %r" % (key, out[key]))
    if not out["max_distance_mm"] > 0:
        raise InputError("max_distance_mm must be a positive number of mm, got %r"
                         % out["max_distance_mm"])
    if not out["cube_mm"] > 0:
        raise InputError("cube_mm must be a positive number of mm, got %r" % out["cube_mm"])
    if not 0.0 <= out["smoothing"] <= 1.0:
        raise InputError("smoothing must be between 0 and 1, got %r" % out["smoothing"])
    return out


def input_image(volume_node):
    """(LPS SimpleITK image, name) of the CT volume node; InputError when it cannot be a CT."""
    from ..io.ct import _check_shape

    if volume_node is None:
        raise InputError("no CT volume selected: pick the head CT")
    name = volume_node.GetName()
    if volume_node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InputError("%s: is a label map volume, not a CT" % name)
    image = mrml_bridge.image_from_volume_node(volume_node)
    _check_shape(image.GetDimension(), image.GetSize(), image.GetNumberOfComponentsPerPixel(),
                 name)
    return image, name


def existing_segments(segmentation_node, volume_node=None):
    """LPS label image (1-4) of the MC / TB segments of a segmentation, on the CT's grid.

    InputError unless at least one side has both its condyle and temporal-bone segment.
    """
    if segmentation_node is None:
        raise InputError("no segmentation selected: pick the segmentation holding the "
                         "condyle and temporal bone segments")
    label_image, found = mrml_bridge.labels_from_segmentation(
        segmentation_node, volume_node, values=list(MC_TB_VALUES))
    complete = [s for s in L.SIDES if L.CONDYLE[s] in found and L.TEMPORAL_BONE[s] in found]
    if not complete:
        raise InputError(
            "segmentation %r needs a condyle and a temporal bone segment of one side, named "
            "%r and %r (or the right-side names)"
            % (segmentation_node.GetName(), L.BY_VALUE[L.CONDYLE[L.LEFT]].name,
               L.BY_VALUE[L.TEMPORAL_BONE[L.LEFT]].name))
    return label_image


def measure_labels(label_image, options):
    """NV engine on an MC / TB label map: (labels 1-6, meshes, report dict).

    The report is built as ``nvseg negative-volume`` builds its report.json, so the in-process
    and the background run agree key for key.
    """
    from ..engine.measure import measure_negative_volume

    measured = measure_negative_volume(label_image, max_distance=options["max_distance_mm"],
                                       mode=options["mode"], cube_mm=options["cube_mm"])
    extra = {"parameters": {"mode": options["mode"], "max_distance_mm": options["max_distance_mm"],
                            "cube_mm": options["cube_mm"] if options["mode"] == "paper" else None}}
    report = build_report(measured.sides, measured.warnings, dict(measured.timings_s),
                          device="cpu", extra=extra)
    return measured.labels, measured.meshes, report


def merge_reports(base, remeasured):
    """The pipeline's report with the sides re-measured in another mode (paper).

    Sides and asymmetry come from ``remeasured``; device, localisation and models stay from
    ``base``; warnings are joined; the re-measuring time is added as ``geometry_<mode>``.
    """
    merged = dict(base)
    for key in ("left", "right", "asymmetry_percent"):
        merged[key] = remeasured[key]
    warnings = list(base.get("warnings") or [])
    merged["warnings"] = warnings + [w for w in remeasured.get("warnings") or []
                                     if w not in warnings]
    parameters = dict(base.get("parameters") or {})
    parameters.update(remeasured.get("parameters") or {})
    merged["parameters"] = parameters
    timings = dict(base.get("timings_s") or {})
    extra_time = float((remeasured.get("timings_s") or {}).get("total") or 0.0)
    timings["geometry_%s" % parameters.get("mode", "remeasured")] = extra_time
    timings["total"] = float(timings.get("total", 0.0)) + extra_time
    merged["timings_s"] = timings
    return merged


class Computed(object):
    """What a run produced, before it is written into the scene.

    ``report``: report.json dict; ``labels``: SimpleITK uint8 label image (values 1-6, LPS, on
    the CT grid); ``meshes``: {side: {"condyle": vtkPolyData LPS with JointSpaceThickness_mm,
    ...}}; ``values``: the label values to write as segments.
    """

    def __init__(self, report, labels, meshes, values):
        self.report = report
        self.labels = labels
        self.meshes = meshes
        self.values = tuple(values)


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


def write_results(computed, inputVolumeNode, segmentationNode, options, table_node=None,
                  scene=None):
    """Write a run's results into the scene; the one place that writes results.

    Creates the output segmentation when ``segmentationNode`` is None ("<CT name> TMJ
    segmentation", CT geometry). Segments of ``computed.values`` with the interfaces.md names
    and colours replace same-named ones (stale ones of a side not measured now are removed),
    closed surfaces are built with ``options["smoothing"]``, per measured joint the thickness
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
    for value in computed.values:  # stale segments of an earlier run must not survive
        old = mrml_bridge.find_segment_id(segmentationNode, L.BY_VALUE[value].name)
        if old is not None:
            segmentation.RemoveSegment(old)
    segments = mrml_bridge.segmentation_from_labels(computed.labels, segmentationNode,
                                                    values=list(computed.values))
    if options["create_surfaces"]:
        mrml_bridge.create_closed_surfaces(segmentationNode, options["smoothing"])

    models, legends = {}, {}
    report = computed.report
    for side in L.SIDES:
        node = _named_node(scene, THICKNESS_MODEL_NAMES[side], "vtkMRMLModelNode")
        mesh = (computed.meshes.get(side) or {}).get("condyle")
        if report.get(side) is None or mesh is None or not options["show_thickness"]:
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
    table_node = mrml_bridge.table_node_from_results(report, scene, TABLE_NAME, table_node)
    results = dict(report)
    results["nodes"] = {"segmentation": segmentationNode.GetID(), "segments": segments,
                        "table": table_node.GetID(), "thickness_models": models,
                        "color_legends": legends}
    results["joint_centers_ras_mm"] = dict(
        (side, None if report.get(side) is None
         else mrml_bridge.lps_to_ras(report[side]["condyle_center_lps_mm"]))
        for side in L.SIDES)
    return results


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


def results_summary(results, asymmetry_threshold_percent=6.0):
    """Texts for the panel's results area (and the batch log) from a results dict.

    Returns {"left_nv", "right_nv", "left_condyle", "right_condyle", "left_space",
    "right_space", "asymmetry", "flag" (text, "" when below the threshold), "asymmetric"
    (bool), "status"}. Volumes in mm³, spaces in mm, asymmetry 100 |L - R| / (L + R) in %.
    """
    out = {}
    for side in L.SIDES:
        values = (results or {}).get(side)
        if values is None:
            empty = "–" if results is None else "not measured"
            out[side + "_nv"] = out[side + "_condyle"] = empty
            out[side + "_space"] = "–"
            continue
        out[side + "_nv"] = "%.1f mm³" % values["negative_volume_mm3"]
        out[side + "_condyle"] = "%.1f mm³" % values["condyle_volume_mm3"]
        out[side + "_space"] = "min %s mm (mean %s mm)" % (
            _mm(values.get("joint_space_min_mm")), _mm(values.get("joint_space_mean_mm")))
    asymmetry = (results or {}).get("asymmetry_percent") or {}
    nv, condyle = asymmetry.get("negative_volume"), asymmetry.get("condyle_volume")
    if nv is None:
        out["asymmetry"] = "–"
    else:
        out["asymmetry"] = "NV %.1f %%, condyle %s" % (
            nv, "–" if condyle is None else "%.1f %%" % condyle)
    flagged = [name for name, value in (("negative volume", nv), ("condyle volume", condyle))
               if value is not None and value > asymmetry_threshold_percent]
    out["asymmetric"] = bool(flagged)
    out["flag"] = ("Asymmetric: %s above %g %%" % (" and ".join(flagged),
                                                     asymmetry_threshold_percent)
                   if flagged else "")
    if results is None:
        out["status"] = ""
    else:
        warnings = results.get("warnings") or []
        seconds = (results.get("timings_s") or {}).get("total")
        out["status"] = ("Done" + ("" if seconds is None else " in %.1f s" % seconds) + "."
                         + ("" if not warnings else " " + " ".join(warnings)))
    return out


def _mm(value):
    return "–" if value is None else "%.2f" % value


class MeasurementLogic(object):
    """TMJ negative volume from a CT volume node; no GUI needed.

    ``progress``: optional callable (fraction 0-1, message) told what is being done.
    The bundled models are loaded once per device and kept.
    """

    def __init__(self, progress=None):
        self.progress = progress
        self._models = {}

    def _announce(self, stage, segment):
        if self.progress is not None:
            fraction, text = stage_progress(stage, segment)
            self.progress(fraction if fraction is not None else 0.0, text)

    def load_models(self, model_dir=None, device="auto"):
        """(models, device choice) for ``device``; loaded once and cached (needs torch)."""
        from ..inference import models as bundled_models
        from ..inference.device import choose_device

        choice = choose_device(device)
        folder = model_dir or bundled_models.default_model_dir()
        key = (folder, str(choice.device))
        if key not in self._models:
            self._models[key] = bundled_models.load_models(folder, device=choice.device)
        return self._models[key], choice

    def compute(self, inputVolumeNode, segmentationNode=None, model_dir=None, **options):
        """The run without touching the scene: a :class:`Computed` (InputError / ModelError on
        bad input)."""
        options = normalize_options(**options)
        segment = options["segment"]
        self._announce("start", segment)
        if segment:
            from .. import pipeline

            image, name = input_image(inputVolumeNode)
            models, choice = self.load_models(model_dir, options["device"])
            result = pipeline.run_case(image, models, choice, options["max_distance_mm"],
                                       options["enhance_tb"],
                                       progress=lambda stage, case: self._announce(stage, True),
                                       case=name)
            report, labels, meshes = result.report, result.labels, result.nv.meshes
            if options["mode"] != "confined":
                self._announce("geometry", True)
                labels, meshes, remeasured = measure_labels(result.labels, options)
                report = merge_reports(report, remeasured)
            values = ALL_VALUES
        else:
            self._announce("export", False)
            label_image = existing_segments(segmentationNode, inputVolumeNode)
            self._announce("geometry", False)
            labels, meshes, report = measure_labels(label_image, options)
            values = NV_VALUES
        report["inputs"] = {"ct_volume": (inputVolumeNode.GetName()
                                          if inputVolumeNode is not None else None),
                            "segmented": segment}
        return Computed(report, labels, meshes, values)

    def process(self, inputVolumeNode, outputSegmentationNode=None, table_node=None,
                model_dir=None, **options):
        """Measure both joints of a CT volume node and write the results into the scene.

        Args:
            inputVolumeNode: the head CT (vtkMRMLScalarVolumeNode; any IJK->RAS, linear parent
                transforms composed in). With segment=False it may be None (the segmentation's
                own grid is used).
            outputSegmentationNode: vtkMRMLSegmentationNode that receives the segments; None:
                a new one is created. With segment=False it must hold the MC / TB segments.
            table_node: vtkMRMLTableNode to fill (default: the one named "Negative volume
                results", created when absent).
            model_dir: folder of the bundled models (default: :func:`bundled_models.default_model_dir`).
            **options: see :data:`DEFAULT_OPTIONS` (segment, device, max_distance_mm, mode,
                cube_mm, smoothing, show_thickness, create_surfaces, enhance_tb).

        Returns:
            the report.json dict (``left`` / ``right`` values or None, ``asymmetry_percent``,
            ``warnings``, ``timings_s``, ``device``, ...) plus ``nodes`` and
            ``joint_centers_ras_mm`` (see :func:`write_results`). The scene is only written
            after everything was computed: on an error (InputError / ModelError, one line)
            nothing is added or changed.
        """
        start = time.perf_counter()
        options = normalize_options(**options)
        computed = self.compute(inputVolumeNode, outputSegmentationNode, model_dir, **options)
        self._announce("load", options["segment"])
        t0 = time.perf_counter()
        results = write_results(computed, inputVolumeNode, outputSegmentationNode, options,
                                table_node)
        timings = dict(results.get("timings_s") or {})
        timings["scene"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - start
        results["timings_s"] = timings
        self._announce("done", options["segment"])
        return results

    def measure_existing(self, inputVolumeNode, segmentationNode, **options):
        """Measure the MC / TB segments already in ``segmentationNode`` (e.g. corrected in the
        Segment Editor): ``process(..., segment=False)``."""
        options["segment"] = False
        return self.process(inputVolumeNode, segmentationNode, **options)
