"""What the module's panel does that needs no Qt: the run options of its parameter node, its
result labels, and which outputs belong to which CT.

``parameters``: the module's parameter node (NegativeVolumeSegmentationParameterNode:
``inputVolume``, ``outputSegmentation``, ``resultsTable``, the options); ``ui``: the panel's
widgets by their names in Resources/UI/NegativeVolumeSegmentation.ui. A run's outputs belong to
its CT (:func:`.results_writer.made_for_volume`): when the panel's CT changes, outputs made for
another CT go back to "create new", so that a run on this CT never writes into another CT's
segmentation, table or thickness models.
"""

from .results_writer import TABLE_ROLE, made_for_other_volume, made_for_volume

# results_summary key -> the panel's label
RESULT_LABELS = {"left_nv": "leftNegativeVolumeLabel", "right_nv": "rightNegativeVolumeLabel",
                 "left_condyle": "leftCondyleVolumeLabel",
                 "right_condyle": "rightCondyleVolumeLabel", "left_space": "leftJointSpaceLabel",
                 "right_space": "rightJointSpaceLabel", "asymmetry": "asymmetryLabel"}


def run_options(parameters):
    """The run options (NegativeVolumeSegmentationLib.options names) the panel's Apply uses."""
    return {"segment": not parameters.measureExisting, "device": parameters.device,
            "max_distance_mm": parameters.maxDistance, "mode": parameters.mode,
            "smoothing": parameters.smoothing, "show_thickness": parameters.showThickness,
            "asymmetry_threshold_percent": parameters.asymmetryThreshold}


def show_summary(ui, summary):
    """The texts of :func:`.views.results_summary` in the panel: numbers, status line, flag."""
    for key, label in RESULT_LABELS.items():
        getattr(ui, label).text = summary[key]
    ui.statusLabel.text = summary["status"]
    show_flag(ui, summary)


def show_flag(ui, summary):
    """The red asymmetry line: shown only when the summary flags an asymmetry."""
    ui.asymmetryFlagLabel.text = summary["flag"]
    ui.asymmetryFlagLabel.setVisible(summary["asymmetric"])


def show_threshold(ui, results, threshold_percent, scene):
    """The asymmetry threshold (the slider) after a run: the red line and the results table's
    Note follow it."""
    from .results_table import follow_threshold
    from .views import results_summary

    show_flag(ui, results_summary(results, threshold_percent))
    follow_threshold(results, threshold_percent, scene)


def reset_table_of_other_segmentation(parameters):
    """When the panel's results table is the table of a segmentation other than its output
    segmentation (the table an earlier run filled for it), set it back to "create new", so that
    Apply does not write this segmentation's numbers into that segmentation's table. Returns
    whether it did."""
    if parameters is None or parameters.resultsTable is None:
        return False
    table, chosen = parameters.resultsTable, parameters.outputSegmentation
    scene = table.GetScene()
    if scene is None:
        return False
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
        if node is not chosen and node.GetNodeReference(TABLE_ROLE) is table:
            parameters.resultsTable = None
            return True
    return False


def reset_outputs_of_other_input(parameters):
    """When the panel's CT is not the one its output segmentation / results table were made
    for, set them back to "create new" (Apply then writes "<CT name> TMJ segmentation" and this
    CT's own table and models; the other CT's results stay); then, where "create new" is left,
    take the segmentation (and its table) an earlier run made for this CT, the latest, so that
    going back to a CT measured before does not make a second "<CT name> TMJ segmentation".
    Returns the names reset."""
    reset = []
    if parameters is None:
        return reset
    for name in ("outputSegmentation", "resultsTable"):
        if made_for_other_volume(getattr(parameters, name), parameters.inputVolume):
            setattr(parameters, name, None)
            reset.append(name)
    volume = parameters.inputVolume
    if volume is not None and volume.GetScene() is not None and (
            parameters.outputSegmentation is None):
        scene = volume.GetScene()
        own = [node for node in (scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
                                 for i in range(scene.GetNumberOfNodesByClass(
                                     "vtkMRMLSegmentationNode")))
               if made_for_volume(node) is volume]
        if own:
            parameters.outputSegmentation = own[-1]
            table = own[-1].GetNodeReference(TABLE_ROLE)
            if parameters.resultsTable is None and table is not None:
                parameters.resultsTable = table
    return reset


def take_run_outputs(parameters, results, scene):
    """After a run: the panel's output selectors show the run's segmentation and table, unless
    another CT was selected meanwhile (then "create new" stays). Returns the table node."""
    nodes = results["nodes"]
    table = scene.GetNodeByID(nodes["table"])
    if parameters is not None:
        parameters.outputSegmentation = scene.GetNodeByID(nodes["segmentation"])
        parameters.resultsTable = table
        reset_outputs_of_other_input(parameters)
    return table


class Selection(object):
    """The CT and output segmentation the panel last saw (node IDs). :meth:`update` on every
    parameter change: another CT sets outputs made for another CT back to "create new" and
    takes back this CT's own (:func:`reset_outputs_of_other_input`); another output
    segmentation drops a table filled for a different one
    (:func:`reset_table_of_other_segmentation`)."""

    def __init__(self):
        self.forget()

    def forget(self):
        self.volume_id = self.segmentation_id = None

    def update(self, parameters):
        """Returns True when the CT changed (the panel's numbers are another CT's)."""
        volume = parameters.inputVolume
        changed = (volume.GetID() if volume else None) != self.volume_id
        if changed:
            self.volume_id = volume.GetID() if volume else None
            reset_outputs_of_other_input(parameters)
        output = parameters.outputSegmentation
        if (output.GetID() if output else None) != self.segmentation_id:
            self.segmentation_id = output.GetID() if output else None
            reset_table_of_other_segmentation(parameters)
        return changed
