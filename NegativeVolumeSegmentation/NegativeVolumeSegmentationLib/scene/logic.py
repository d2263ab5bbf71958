"""Logic of the 3D Slicer module, importable without Qt: a CT volume node in, nodes and numbers out.

``MeasurementLogic().process(inputVolumeNode, outputSegmentationNode, **options)`` gets the
mandibular condyle (MC) and temporal bone (TB) of both joints in one of two ways:

- ``segment=True`` (default): the whole pipeline on the CT (localise both joints, segment MC and
  TB with the bundled models, clean up), then the negative volume (NV) engine;
- ``segment=False``: the MC / TB segments already in the output segmentation, named as in
  docs/interfaces.md (e.g. corrected in the Segment Editor), measured by the NV engine alone.

Either way it is :func:`..pipeline.compute` on the node's image, the same function the command
line and the background run (:mod:`.background`, in a child process) call; the result is then
written into the scene by :func:`.results_writer.write_results`. Options are those of
:mod:`..options`. The library works in LPS mm, MRML in RAS mm; :mod:`.mrml_bridge` converts.
Runs the same in Slicer's GUI, in its batch console (``Slicer --no-main-window --python-script``)
and under pytest with slicer-core.
"""

import time

from .. import labels as L
from ..errors import InputError
from ..options import RunOptions
from . import dicom_header, mrml_bridge
from .progress import stage_progress
from .results_writer import MC_TB_VALUES, write_results  # noqa: F401
from .views import results_summary, show_results  # noqa: F401 (the Logic's API)


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
    return dicom_header.tag_image_from_dicom(volume_node, image), name


def existing_segments(segmentation_node, volume_node=None):
    """LPS label image (1-4) of the MC / TB segments of a segmentation, on the segmentation's own
    grid (its reference geometry: the CT's for segments drawn on it, the 0.3 mm grid of a run's
    own segmentation: measured again, edited or not, it gives the run's numbers); on the CT's
    grid when the segmentation has none.

    InputError unless at least one side has both its condyle and temporal-bone segment.
    """
    if segmentation_node is None:
        raise InputError("no segmentation selected: pick the segmentation holding the "
                         "condyle and temporal bone segments")
    own = mrml_bridge.has_reference_geometry(segmentation_node)
    label_image, found = mrml_bridge.labels_from_segmentation(
        segmentation_node, None if own else volume_node, values=list(MC_TB_VALUES))
    complete = [s for s in L.SIDES if L.CONDYLE[s] in found and L.TEMPORAL_BONE[s] in found]
    if not complete:
        raise InputError(
            "segmentation %r needs a condyle and a temporal bone segment of one side, named "
            "%r and %r (or the right-side names)"
            % (segmentation_node.GetName(), L.BY_VALUE[L.CONDYLE[L.LEFT]].name,
               L.BY_VALUE[L.TEMPORAL_BONE[L.LEFT]].name))
    return label_image


def source_image(options, inputVolumeNode, segmentationNode):
    """(LPS SimpleITK image, name, CT or None) a run measures: the CT (segment=True; no third
    image) or the label map of the MC / TB segments (segment=False, :func:`existing_segments`)
    with the CT when a volume is selected (the air rule, the quality gate on the CT's grid).
    InputError for nodes that cannot run, the output segmentation under a non-linear
    transform included (it could not be written: refused before anything is computed)."""
    mrml_bridge.check_linear_transform(segmentationNode)
    if options.segment:
        return input_image(inputVolumeNode) + (None,)
    name = segmentationNode.GetName() if segmentationNode is not None else "segmentation"
    ct = input_image(inputVolumeNode)[0] if inputVolumeNode is not None else None
    return existing_segments(segmentationNode, inputVolumeNode), name, ct


def add_inputs(report, inputVolumeNode, options, segmentationNode=None):
    """The ``inputs`` entry of a run's report in Slicer, replacing the pipeline's (node names,
    not temporary files): ``ct_volume`` (the CT node's name, or None), ``segmented`` (the
    networks segmented the CT), ``segmentation`` (the name of the segmentation whose segments
    were measured when not segmented, else None) and ``dicom_series`` (the DICOM series the run
    read from the volume's header: :mod:`.dicom_header`); with measured segments,
    ``label_sides_swapped`` as the pipeline found it (the segments are then renamed)."""
    made = report.get("inputs") or {}
    measured = None if options.segment or segmentationNode is None else segmentationNode
    report["inputs"] = {"ct_volume": (inputVolumeNode.GetName()
                                      if inputVolumeNode is not None else None),
                        "segmented": options.segment,
                        "segmentation": None if measured is None else measured.GetName(),
                        "dicom_series": made.get("dicom_series")}
    if "label_sides_swapped" in made:
        report["inputs"]["label_sides_swapped"] = made["label_sides_swapped"]
    return report


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
        """The run without touching the scene: a :class:`..case_result.CaseResult` (InputError /
        ModelError on bad input)."""
        from .. import pipeline

        options = RunOptions.from_values(options)
        self._announce("start", options.segment)
        image, name, ct = source_image(options, inputVolumeNode, segmentationNode)
        models = choice = None
        if options.segment:
            models, choice = self.load_models(model_dir, options.device)
        result = pipeline.compute(image, options, models, case=name, device=choice,
                                  progress=lambda stage, case: self._announce(stage,
                                                                              options.segment),
                                  ct=ct)
        add_inputs(result.report, inputVolumeNode, options, segmentationNode)
        return result

    def process(self, inputVolumeNode, outputSegmentationNode=None, table_node=None,
                model_dir=None, **options):
        """Measure both joints of a CT volume node and write the results into the scene.

        Args:
            inputVolumeNode: the head CT (vtkMRMLScalarVolumeNode; any IJK->RAS, linear parent
                transforms composed in). With segment=False it may be None (the segmentation's
                own grid is used).
            outputSegmentationNode: vtkMRMLSegmentationNode that receives the segments; None:
                a new one is created. With segment=False it must hold the MC / TB segments.
            table_node: vtkMRMLTableNode to fill (default: the output segmentation's table of
                an earlier run, else a new "<CT name> negative volume results").
            model_dir: folder of the bundled models (default:
                :func:`..inference.models.default_model_dir`).
            **options: see :mod:`..options` (segment, device, max_distance_mm, mode, cube_mm,
                smoothing, show_thickness, create_surfaces, enhance_tb).

        Returns:
            the report.json dict (``left`` / ``right`` values or None, ``asymmetry_percent``,
            ``warnings``, ``timings_s``, ``device``, ...) plus ``nodes`` and
            ``joint_centers_ras_mm`` (see :func:`.results_writer.write_results`). The scene is
            only written after everything was computed: on an error in computing (InputError /
            ModelError, one line) nothing is added or changed; a write that fails midway
            removes the segmentation it made (a given one gets its segments back as they were).
        """
        start = time.perf_counter()
        options = RunOptions.from_values(options)
        result = self.compute(inputVolumeNode, outputSegmentationNode, model_dir, **options.to_dict())
        self._announce("load", options.segment)
        t0 = time.perf_counter()
        results = write_results(result, inputVolumeNode, outputSegmentationNode, options,
                                table_node)
        timings = dict(results.get("timings_s") or {})
        timings["scene"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - start
        results["timings_s"] = timings
        self._announce("done", options.segment)
        return results

    def measure_existing(self, inputVolumeNode, segmentationNode, **options):
        """Measure the MC / TB segments already in ``segmentationNode`` (e.g. corrected in the
        Segment Editor): ``process(..., segment=False)``."""
        options["segment"] = False
        return self.process(inputVolumeNode, segmentationNode, **options)
