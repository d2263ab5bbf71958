"""What one run produces: the object every route (command line, Slicer in process and in the
background, scripts) passes on."""


class CaseResult(object):
    """Everything one run produced.

    ``report``: the report.json dict; ``labels``: SimpleITK uint8 label image (1-6, LPS, on the
    source grid, or on the joints' part of it for a scan above
    ``inference.joints_part.FULL_GRID_LABELS_MAX_VOXELS``); ``meshes``: {side: {"condyle": vtkPolyData in
    LPS mm with point data ``JointSpaceThickness_mm``, "temporal_bone", "inflated",
    "negative_volume"}}; ``ct``: the CT (SimpleITK, HU) when there was one; ``joints``:
    {side: JointSegmentation or None; centre and CT box, the probabilities released once the
    labels are made} and ``localization`` when the CT was segmented. A result
    read back from a results folder
    (:mod:`.io.results_folder`) carries report, labels and the meshes that were written.
    """

    def __init__(self, report, labels, meshes, ct=None, joints=None, localization=None):
        self.report = report
        self.labels = labels
        self.meshes = meshes
        self.ct = ct
        self.joints = joints
        self.localization = localization
