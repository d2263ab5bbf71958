"""3D Slicer module: temporomandibular joint (TMJ) negative volume (joint space) from head CT.

Thin GUI shell: all measuring lives in NegativeVolumeSegmentationLib (slicer_logic.py for the
MRML side, negative_volume.py for the method). Library imports happen inside functions so that
loading the module stays fast and never pulls heavy packages. Slicer shows RAS; the library
works in LPS mm; mrml_bridge converts at the boundary.
"""

import logging
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

SIDES = ("left", "right")


class NegativeVolumeSegmentation(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Negative Volume Segmentation"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["NegativeVolumeSegmentation developers"]
        self.parent.helpText = """
Measures the <b>negative volume</b> (NV) of each temporomandibular joint: the empty joint space
between the mandibular condyle and the temporal bone (glenoid fossa, articular eminence), built
by inflating the condyle surface along its outward normals until it meets the temporal bone.
<p>Inputs: the CT volume and a segmentation with the segments <i>Left/Right mandibular
condyle</i> and <i>Left/Right temporal bone</i> (e.g. drawn in the Segment Editor).</p>
<p>Outputs: the segments <i>Left/Right negative volume</i>, a results table and, per joint, a
condyle model coloured by the joint-space thickness (grey: no temporal bone within the maximum
distance; red: thin; blue: 5 mm or more).</p>
<p>Reading the numbers: volumes are in mm³ (voxel count × voxel volume, the same value the
Segment Statistics module shows for the NV segment); joint spaces are in mm along the condyle
normals (minimum, mean, and the Ikeda-style superior / anterior / posterior spaces in the
condyle's sagittal plane). Asymmetry (%) = 100·|L − R| / (L + R); values above 3–6 % are
usually called asymmetric. Left and right are the patient's, from the image geometry.</p>
"""
        self.parent.acknowledgementText = """
The method follows Belikova K., Rogov O., Rybakov A., Maslov M., Dylov D.,
"Deep negative volume segmentation", Scientific Reports 11, 16292 (2021),
doi:10.1038/s41598-021-95526-1. The module layout follows the 3D Slicer scripted-module template.
"""


@parameterNodeWrapper
class NegativeVolumeSegmentationParameterNode:
    """GUI state saved with the scene.

    inputVolume: the CT; segmentation: holds the condyle / temporal-bone segments;
    maxDistance: longest inflation ray (mm); mode: "confined" (rays that miss the temporal bone
    give 0) or "paper" (Belikova et al.: rays run to the maximum, NV clipped by a 30 mm cube);
    showThickness: add the thickness-coloured condyle models; resultsTable: output table.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    maxDistance: Annotated[float, WithinRange(1.0, 30.0)] = 10.0
    mode: Annotated[str, Choice(["confined", "paper"])] = "confined"
    showThickness: bool = True
    resultsTable: vtkMRMLTableNode


class NegativeVolumeSegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Panel: inputs, options, Apply, progress and the main numbers."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/NegativeVolumeSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = NegativeVolumeSegmentationLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.progressBar.setVisible(False)
        self._showResults(None)
        self.initializeParameterNode()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self._checkCanApply)

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            volume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if volume and not volume.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = volume
        if not self._parameterNode.segmentation:
            segmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if segmentation:
                self._parameterNode.segmentation = segmentation

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                             self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None):
        if self._parameterNode and self._parameterNode.segmentation:
            self.ui.applyButton.toolTip = "Measure the negative volume of both joints"
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = ("Select a segmentation with the condyle and temporal "
                                           "bone segments")
            self.ui.applyButton.enabled = False

    def _onProgress(self, fraction, message):
        self.ui.progressBar.setValue(int(round(100 * fraction)))
        self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def onApplyButton(self):
        """Run the measurement; errors are shown in a dialog, the panel stays usable."""
        parameters = self._parameterNode
        self.ui.progressBar.setVisible(True)
        self.ui.applyButton.enabled = False
        self.logic.progress = self._onProgress
        try:
            with slicer.util.tryWithErrorDisplay("Negative volume measurement failed.",
                                                 waitCursor=True):
                results = self.logic.process(
                    parameters.inputVolume, parameters.segmentation,
                    max_distance_mm=parameters.maxDistance, mode=parameters.mode,
                    show_thickness=parameters.showThickness,
                    table_node=parameters.resultsTable)
                parameters.resultsTable = slicer.mrmlScene.GetNodeByID(results["nodes"]["table"])
                self._showResults(results)
                self._showTable(parameters.resultsTable)
        finally:
            self.logic.progress = None
            self.ui.progressBar.setVisible(False)
            self._checkCanApply()

    def _showResults(self, results):
        """Fill the result labels (mm3, mm, %) from a results dict, or clear them."""
        labels = {"left": (self.ui.leftNegativeVolumeLabel, self.ui.leftJointSpaceLabel),
                  "right": (self.ui.rightNegativeVolumeLabel, self.ui.rightJointSpaceLabel)}
        for side in SIDES:
            values = (results or {}).get(side)
            nvLabel, spaceLabel = labels[side]
            if values is None:
                nvLabel.text = "–" if results is None else "not measured"
                spaceLabel.text = "–"
                continue
            nvLabel.text = "%.1f mm³ (condyle %.1f mm³)" % (values["negative_volume_mm3"],
                                                             values["condyle_volume_mm3"])
            spaceLabel.text = "min %s, mean %s mm" % (_mm(values.get("joint_space_min_mm")),
                                                      _mm(values.get("joint_space_mean_mm")))
        asymmetry = ((results or {}).get("asymmetry_percent") or {}).get("negative_volume")
        self.ui.asymmetryLabel.text = "–" if asymmetry is None else "%.1f %%" % asymmetry
        if results is None:
            self.ui.statusLabel.text = ""
        else:
            warnings = results.get("warnings") or []
            self.ui.statusLabel.text = ("Done in %.1f s." % results["timings_s"]["total"]
                                        + ("" if not warnings else " " + " ".join(warnings)))

    def _showTable(self, tableNode):
        layoutManager = slicer.app.layoutManager()
        if tableNode is None or layoutManager is None:
            return
        layout = slicer.modules.tables.logic().GetLayoutWithTable(layoutManager.layout)
        layoutManager.setLayout(layout)
        selectionNode = slicer.app.applicationLogic().GetSelectionNode()
        selectionNode.SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()


def _mm(value):
    return "–" if value is None else "%.2f" % value


class NegativeVolumeSegmentationLogic(ScriptedLoadableModuleLogic):
    """Slicer-side logic: the typed parameter node plus the library's Qt-free logic."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        from NegativeVolumeSegmentationLib.slicer_logic import (
            NegativeVolumeSegmentationLogic as LibraryLogic)

        self._library = LibraryLogic()

    @property
    def progress(self):
        return self._library.progress

    @progress.setter
    def progress(self, callback):
        self._library.progress = callback

    def getParameterNode(self):
        return NegativeVolumeSegmentationParameterNode(super().getParameterNode())

    def process(self, inputVolume, segmentation, **options):
        """See NegativeVolumeSegmentationLib.slicer_logic; returns the results dict."""
        results = self._library.process(inputVolume, segmentation, **options)
        logging.info("Negative volume measured in %.2f s", results["timings_s"]["total"])
        return results


class NegativeVolumeSegmentationTest(ScriptedLoadableModuleTest):
    """Runs the same checks as Testing/test_mrml_bridge.py (NegativeVolumeSegmentationLib.
    slicer_selftest) on Slicer's own scene."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from NegativeVolumeSegmentationLib import slicer_selftest

        for check in slicer_selftest.ALL_CHECKS:
            self.setUp()
            self.delayDisplay("Running %s" % check.__name__)
            check(slicer.mrmlScene)
        self.setUp()
        self.delayDisplay("All negative volume checks passed")
