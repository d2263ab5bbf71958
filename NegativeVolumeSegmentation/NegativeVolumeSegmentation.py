"""3D Slicer module: temporomandibular joint (TMJ) negative volume (joint space) from head CT.

Thin GUI shell: the work lives in NegativeVolumeSegmentationLib (scene/logic.py: the Logic;
scene/results_writer.py writes results into the scene; scene/background.py: the same run in a
separate, cancellable process; scene/panel.py: the panel's Qt-free parts). The options come from
NegativeVolumeSegmentationLib.options (standard library only); every other library import is
inside functions, so loading the module stays fast (torch only in the background process).
Slicer shows RAS; the library works in LPS mm; scene/mrml_bridge.py converts at the boundary.
"""

import contextlib
import logging
import os
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from NegativeVolumeSegmentationLib.options import DEFAULTS, DEVICES, MODES, SLIDERS

POLL_INTERVAL_MS = 300  # how often the panel looks at the background run


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
<p>Input: a head CT. Apply finds both joints, segments the <i>Left/Right mandibular
condyle</i> and <i>Left/Right temporal bone</i> with the bundled networks (PyTorch, in a
background process: the panel stays usable and Cancel stops it) and measures the joint space.
To measure segments you corrected in the Segment Editor, tick <i>Measure existing
segments</i>.</p>
<p>Outputs: one segmentation with the six segments (condyles, temporal bones, <i>Left/Right
negative volume</i>) over the CT and in 3D, per joint a condyle model coloured by the joint-space
thickness with a colour legend (grey: no temporal bone within the maximum distance; red: thin;
blue: 5 mm or more) and a results table.</p>
<p>Reading the numbers: volumes are in mm³ (voxel count × voxel volume, the same value the
Segment Statistics module shows for the NV segment); joint spaces are in mm along the condyle
normals (minimum, mean, and the Ikeda-style superior / anterior / posterior spaces in the
condyle's sagittal plane). Asymmetry (%) = 100·|L − R| / (L + R); above about 6 % is commonly
called asymmetric (the flag threshold is in Advanced). Left and right are the patient's, from
the image geometry.</p>
"""
        self.parent.acknowledgementText = """
The method follows Belikova K., Rogov O., Rybakov A., Maslov M., Dylov D.,
"Deep negative volume segmentation", Scientific Reports 11, 16292 (2021),
doi:10.1038/s41598-021-95526-1. The module layout follows the 3D Slicer scripted-module template.
"""
        # The TMJ phantom in the Sample Data module, once the application has started up.
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """The "TMJ phantom head CT" entry of the Sample Data module (generated locally on first
    use, no download: NegativeVolumeSegmentationLib/scene/sample_data.py)."""
    from NegativeVolumeSegmentationLib.scene.sample_data import register_sample_data

    register_sample_data(os.path.join(os.path.dirname(__file__), "Resources", "Icons",
                                      "NegativeVolumeSegmentation.png"))


@parameterNodeWrapper
class NegativeVolumeSegmentationParameterNode:
    """GUI state saved with the scene: the CT, the output segmentation and table, and the run
    options of NegativeVolumeSegmentationLib.options (meanings, units, defaults and slider ranges
    there). measureExisting: measure the condyle / temporal-bone segments already in
    outputSegmentation instead of segmenting the CT."""

    inputVolume: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode
    measureExisting: bool = False
    device: Annotated[str, Choice(list(DEVICES))] = DEFAULTS["device"]
    maxDistance: Annotated[float, WithinRange(*SLIDERS["max_distance_mm"])] = \
        DEFAULTS["max_distance_mm"]
    mode: Annotated[str, Choice(list(MODES))] = DEFAULTS["mode"]
    smoothing: Annotated[float, WithinRange(*SLIDERS["smoothing"])] = DEFAULTS["smoothing"]
    showThickness: bool = DEFAULTS["show_thickness"]
    asymmetryThreshold: Annotated[float, WithinRange(*SLIDERS["asymmetry_threshold_percent"])] \
        = DEFAULTS["asymmetry_threshold_percent"]
    resultsTable: vtkMRMLTableNode


class NegativeVolumeSegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Panel: inputs, device, options, Apply / Cancel, progress and the main numbers."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None      # the BackgroundRun in progress, if any
        self._installing = False  # PyTorch being installed for an Apply (events still run)
        self._timer = None
        self._results = None  # the last results shown
        self._selection = None  # the CT and output segmentation the outputs follow

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/NegativeVolumeSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        from NegativeVolumeSegmentationLib.scene.panel import Selection

        self.logic = NegativeVolumeSegmentationLogic()
        self._selection = Selection()
        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.connect("timeout()", self._onTimer)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.deviceInfoLabel.text = self.logic.deviceSummary()
        self._setRunning(False)
        self._showResults(None)
        self.initializeParameterNode()

    def cleanup(self):
        self._cancelRun("Cancelled: the module was closed.")
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self._onParameterModified)

    def onSceneStartClose(self, caller, event):
        self._showResults(None)  # the numbers of the closed scene's CT go
        self._cancelRun("Cancelled: the scene was closed.")
        self.setParameterNode(None)
        self._selection.forget()

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            volume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if volume and not volume.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = volume

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self._onParameterModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                             self._onParameterModified)
            self._onParameterModified()

    def _onParameterModified(self, caller=None, event=None):
        """Another CT: the numbers go, and the outputs follow it (scene/panel.py Selection)."""
        if self._selection.update(self._parameterNode) and self._run is None:
            self._showResults(None)
        self._checkCanApply()

    # ------------------------------------------------------------------ state of the buttons
    def _checkCanApply(self, caller=None, event=None):
        from NegativeVolumeSegmentationLib.scene.panel import show_threshold
        from NegativeVolumeSegmentationLib.scene.views import apply_state

        parameters = self._parameterNode
        running = self._run is not None
        reason, tooltip = apply_state(parameters)
        self.ui.applyButton.enabled = reason is None and not running and not self._installing
        self.ui.applyButton.toolTip = reason or tooltip
        self.ui.cancelButton.enabled = running
        if parameters is not None and self._results is not None:  # the flag follows the threshold
            show_threshold(self.ui, self._results, parameters.asymmetryThreshold,
                           slicer.mrmlScene)

    def _setRunning(self, running):
        self.ui.progressBar.setVisible(running)
        self.ui.inputVolumeSelector.enabled = not running  # the run keeps its own nodes
        self.ui.outputSegmentationSelector.enabled = not running
        self.ui.resultsTableSelector.enabled = not running
        if running:
            self.ui.progressBar.setValue(0)
        self._checkCanApply()
        self.ui.cancelButton.enabled = running

    def _onProgress(self, fraction, message):
        self.ui.progressBar.setValue(int(round(100 * fraction)))
        self.ui.statusLabel.text = message

    # ------------------------------------------------------------------ running
    def onApplyButton(self):
        """Start the background run; the timer follows it. Errors show a message and leave the
        panel usable."""
        from NegativeVolumeSegmentationLib.scene.panel import run_options

        if self._run is not None or self._installing:
            return
        parameters = self._parameterNode
        options = run_options(parameters)
        self._showResults(None)
        if options["segment"]:
            if not self._ensureTorch() or self._parameterNode is None:
                self._setRunning(False)  # the status line says why; Apply is ready again
                return
            parameters = self._parameterNode   # what the user chose by the end of an install
            options = run_options(parameters)
        try:
            self._run = self.logic.startBackgroundRun(
                parameters.inputVolume, parameters.outputSegmentation,
                table_node=parameters.resultsTable, **options)
        except Exception as error:  # bad input: one line, nothing changed
            self._endRun()
            self._showError(str(error))
            return
        self._setRunning(True)
        self._onProgress(self._run.fraction, self._run.message)
        self._timer.start()

    def _onTimer(self):
        """Follow the run; at its end write its results. Any failure ends the run with a
        message (the panel never stays "running")."""
        run = self._run
        if run is None:
            self._timer.stop()
            return
        error = None
        try:
            state = run.poll()
            self._onProgress(run.fraction, run.message)
            if state == "running":
                return
            self._timer.stop()
            if state != "completed":
                error = run.error or "the run ended (%s)" % state
            else:
                slicer.app.processEvents()  # show "Writing segments ..." before the work
                if self._run is not run:  # cancelled, or the scene closed, meanwhile
                    return
                results = run.finish()
                self._onProgress(run.fraction, run.message)
                self._onFinished(run, results)
        except Exception as failure:
            error = str(failure) or type(failure).__name__
            with contextlib.suppress(Exception):
                run.cancel()  # ends the process, removes the temporary folder
        if self._run is run:
            self._endRun()
        if error:
            self._showError(error)

    def onCancelButton(self):
        self._cancelRun("Cancelled; nothing was changed.")

    def _cancelRun(self, message):
        if self._run is None:
            return
        try:
            logging.info("Negative volume run cancelled in %.2f s", self._run.cancel())
        except Exception as error:   # the panel is ready again whatever the process did
            logging.error("Negative volume run: cancelling failed: %s", error)
        finally:
            self._endRun()
        self.ui.statusLabel.text = message

    def _endRun(self):
        self._timer.stop()
        self._run = None
        self._setRunning(False)

    def _showError(self, message):
        self.ui.statusLabel.text = "Failed: " + message
        logging.error("Negative volume measurement failed: %s", message)
        slicer.util.errorDisplay("Negative volume measurement failed:\n" + message)

    def _ensureTorch(self):
        """True when PyTorch is there or was installed after asking (scene/torch_install.py);
        else False, the reason in the status line. The installers process events while they
        download: Apply is disabled and ignored meanwhile (no second install)."""
        from NegativeVolumeSegmentationLib.scene.torch_install import ensure_torch, torch_problem
        from NegativeVolumeSegmentationLib.scene.views import wait_cursor

        if torch_problem() is None:
            return True
        self._installing = True
        self.ui.applyButton.enabled = False
        try:
            return ensure_torch(lambda text: setattr(self.ui.statusLabel, "text", text),
                                wait_cursor)
        finally:
            self._installing = False
            self.ui.deviceInfoLabel.text = self.logic.deviceSummary()

    # ------------------------------------------------------------------ results
    def _onFinished(self, run, results):
        """The numbers, the segments over the run's own CT (centred on a joint), the table."""
        from NegativeVolumeSegmentationLib.scene.panel import take_run_outputs
        from NegativeVolumeSegmentationLib.scene.views import show_table

        table = take_run_outputs(self._parameterNode, results, slicer.mrmlScene)
        self._showResults(results)
        if run.input_volume is not None:
            slicer.util.setSliceViewerLayers(background=run.input_volume, fit=True)
        self.logic.showResults(results, run.input_volume)
        show_table(table)

    def _showResults(self, results):
        """Fill the result labels (mm³, mm, %) from a results dict, or clear them (None)."""
        from NegativeVolumeSegmentationLib.scene.panel import show_summary

        self._results = results
        threshold = (self._parameterNode.asymmetryThreshold if self._parameterNode
                     else DEFAULTS["asymmetry_threshold_percent"])
        show_summary(self.ui, self.logic.resultsSummary(results, threshold))


class NegativeVolumeSegmentationLogic(ScriptedLoadableModuleLogic):
    """The parameter node plus the Lib's Qt-free logic (scene/logic.py); from the console or a
    batch script: ``NegativeVolumeSegmentationLogic().process(ctNode)``."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

        self._library = MeasurementLogic()

    progress = property(lambda self: self._library.progress,  # callable(fraction, message)
                        lambda self, callback: setattr(self._library, "progress", callback))

    def getParameterNode(self):
        return NegativeVolumeSegmentationParameterNode(super().getParameterNode())

    def process(self, inputVolume, outputSegmentation=None, **options):
        """Whole run in this process (blocks until done); see
        NegativeVolumeSegmentationLib.scene.logic. Returns the results dict."""
        results = self._library.process(inputVolume, outputSegmentation, **options)
        logging.info("Negative volume measured in %.2f s", results["timings_s"]["total"])
        return results

    def startBackgroundRun(self, inputVolume, outputSegmentation=None, table_node=None, **options):
        """Start a BackgroundRun (NegativeVolumeSegmentationLib.scene.background) and return it;
        InputError (one line) for input that cannot run."""
        from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

        return BackgroundRun(inputVolume, outputSegmentation, table_node=table_node, **options).start()

    def showResults(self, results, inputVolume=None, side=None):
        from NegativeVolumeSegmentationLib.scene.logic import show_results

        return show_results(results, inputVolume, side, scene=slicer.mrmlScene)

    @staticmethod
    def resultsSummary(results, asymmetryThreshold=DEFAULTS["asymmetry_threshold_percent"]):
        from NegativeVolumeSegmentationLib.scene.logic import results_summary

        return results_summary(results, asymmetryThreshold)

    @staticmethod
    def deviceSummary():
        """What compute was found (no torch import)."""
        from NegativeVolumeSegmentationLib.scene.torch_probe import probe

        return probe().text


class NegativeVolumeSegmentationTest(ScriptedLoadableModuleTest):
    """The checks of NegativeVolumeSegmentationSelfTest.checks.ALL_CHECKS (pytest runs them
    too) on Slicer's own scene; without PyTorch those that segment are skipped, saying why."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest

        slicer_selftest.run_self_test(slicer.mrmlScene, self.delayDisplay,
                                      slicer_selftest.ALL_CHECKS, clear=self.setUp)
