"""Stand-ins for 3D Slicer's Qt layer, so that the module file's Python runs on a real MRML scene
(slicer-core) in the tests of this folder.

The module file needs Slicer's Qt layer (qt, ctk, ScriptedLoadableModule, parameterNodeWrapper,
slicer.app), which slicer-core lacks. Minimal stand-ins let its Python run here on a real scene:
the Widget's setup and its Apply / timer / Cancel path (background runs for real), the Logic
wrapper and the module's own self-test. Qt's event loop is replaced by calling the timer's
slot by hand.
"""

import types


class FakeWidget(object):
    """A Qt widget as the module uses it: text, toolTip, enabled, visible, setValue, connect."""

    def __init__(self):
        self.text, self.toolTip, self.enabled, self.visible, self.values = "", "", True, True, []
        self.connections = {}

    def setVisible(self, visible):
        self.visible = visible

    def setValue(self, value):
        self.values.append(value)

    def connect(self, signal, slot):
        self.connections[signal] = slot

    def setMRMLScene(self, scene):
        self.scene = scene


class FakeTimer(object):
    def __init__(self):
        self.active, self.interval, self.connections = False, None, {}

    def setInterval(self, milliseconds):
        self.interval = milliseconds

    def connect(self, signal, slot):
        self.connections[signal] = slot

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


def parameter_node_wrapper(cls):
    """Stand-in for @parameterNodeWrapper: the class's defaults on an object that forwards
    observers to its MRML node (setting a parameter invokes its ModifiedEvent, as Slicer's
    wrapper does) and binds to a GUI without doing anything."""
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    def __init__(self, node):
        self.parameterNode = node
        for name, value in defaults.items():
            setattr(self, name, value)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in defaults:  # as Slicer's: a parameter set modifies the parameter node
            self.parameterNode.Modified()

    methods = {"__init__": __init__, "__doc__": cls.__doc__, "__setattr__": __setattr__,
               "connectGui": lambda self, ui: "gui-tag",
               "disconnectGui": lambda self, tag: None,
               "AddObserver": lambda self, *args: self.parameterNode.AddObserver(*args),
               "RemoveObserver": lambda self, tag: self.parameterNode.RemoveObserver(tag)}
    return type(cls.__name__, (object,), methods)


UI_NAMES = ("inputVolumeSelector", "outputSegmentationSelector", "resultsTableSelector",
            "applyButton", "cancelButton", "progressBar", "statusLabel", "deviceInfoLabel",
            "leftNegativeVolumeLabel", "rightNegativeVolumeLabel", "leftCondyleVolumeLabel",
            "rightCondyleVolumeLabel", "leftJointSpaceLabel", "rightJointSpaceLabel",
            "asymmetryLabel", "asymmetryFlagLabel")


def load_module_file(scene, monkeypatch, tmp_path):
    """The module file NegativeVolumeSegmentation.py executed on the stand-ins (a fresh module
    object; ``errors_shown`` collects what errorDisplay would have shown)."""
    import importlib.util
    import os
    import sys

    import slicer

    qt = types.ModuleType("qt")
    qt.Qt = types.SimpleNamespace(WaitCursor=3)
    qt.QTimer = FakeTimer
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule(object):
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget(object):
        def __init__(self, parent=None):
            self.parent = parent

        def setup(self):
            self.layout = types.SimpleNamespace(addWidget=lambda widget: None)

        def resourcePath(self, name):
            return os.path.join("Resources", name)

    class ScriptedLoadableModuleLogic(object):
        def getParameterNode(self):
            return slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")

    class ScriptedLoadableModuleTest(object):
        def delayDisplay(self, message, msec=None):
            print(message)

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget,
                ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest):
        setattr(scripted, cls.__name__, cls)
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = parameter_node_wrapper
    wrapper.WithinRange = lambda low, high: ("WithinRange", low, high)
    wrapper.Choice = lambda choices: ("Choice", tuple(choices))
    for name, module in (("qt", qt), ("ctk", types.ModuleType("ctk")),
                         ("slicer.ScriptedLoadableModule", scripted),
                         ("slicer.parameterNodeWrapper", wrapper)):
        monkeypatch.setitem(sys.modules, name, module)
    app = types.SimpleNamespace(
        processEvents=lambda: None, setOverrideCursor=lambda cursor: None,
        restoreOverrideCursor=lambda: None, testingEnabled=lambda: True,
        layoutManager=lambda: None, cachePath=str(tmp_path / "slicer-cache"), connections=[])
    app.connect = lambda signal, slot: app.connections.append((signal, slot))
    monkeypatch.setattr(slicer, "app", app, raising=False)
    # The panel's loadUI / childWidgetVariables: fake widgets under the .ui's names.
    monkeypatch.setattr(slicer.util, "loadUI", lambda path: FakeWidget())
    monkeypatch.setattr(slicer.util, "childWidgetVariables", lambda widget: types.SimpleNamespace(
        **{name: FakeWidget() for name in UI_NAMES}))
    errors = []
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: errors.append(text))
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "NegativeVolumeSegmentation", "NegativeVolumeSegmentation.py")
    spec = importlib.util.spec_from_file_location("NegativeVolumeSegmentation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.errors_shown = errors
    return module


def analytic_inputs(scene, widget, with_segments=True, seed=3):
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    phantom = make_phantom("analytic", seed=seed, variant="sphere", condyle_radius_mm=6.5)
    parameters = widget._parameterNode
    parameters.inputVolume = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    parameters.outputSegmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "joints")
    if with_segments:
        mrml_bridge.segmentation_from_labels(phantom.labels, parameters.outputSegmentation,
                                             [1, 2, 3, 4])
    parameters.measureExisting = True
    return phantom


def tick_until_done(widget, timeout_s=120.0):
    import time

    deadline = time.perf_counter() + timeout_s
    while widget._run is not None:
        assert widget._timer.active, "a run is in progress but the timer is stopped"
        assert time.perf_counter() < deadline, "the background run did not end"
        widget._timer.connections["timeout()"]()  # what Qt's event loop would do
        time.sleep(0.1)


class SampleDataStandIn(object):
    """Slicer's SampleData module as far as registration goes: SampleDataSource's own length
    check (uris, fileNames, nodeNames: one string each or lists of one length)."""

    def __init__(self):
        self.sources = {}
        stand_in = self

        class SampleDataLogic(object):
            @staticmethod
            def registerCustomSampleDataSource(category="Custom", sampleName=None, uris=None,
                                               fileNames=None, nodeNames=None,
                                               customDownloader=None, thumbnailFileName=None,
                                               loadFileTypes=None, loadFiles=None,
                                               loadFileProperties={}, checksums=None,
                                               loadFileType=None):
                fields = [uris, fileNames, nodeNames]
                if all(isinstance(f, str) for f in fields):
                    fields = [[f] for f in fields]
                assert len(set(len(f) for f in fields)) == 1, fields  # as SampleDataSource
                source = types.SimpleNamespace(
                    sampleName=sampleName, uris=fields[0], fileNames=fields[1],
                    nodeNames=fields[2], customDownloader=customDownloader,
                    thumbnailFileName=thumbnailFileName, loadFileTypes=loadFileTypes)
                stand_in.sources.setdefault(category, []).append(source)

        self.module = types.ModuleType("SampleData")
        self.module.SampleDataLogic = SampleDataLogic


class TorchOnDisk(object):
    """What torch_probe finds on disk; an installer stand-in changes it."""

    def __init__(self, installed=False, version=None):
        self.package = (installed, version, None)

    def __call__(self):
        return self.package


def segment_inputs(scene, widget, monkeypatch, torch):
    """Inputs for a segmenting Apply; startBackgroundRun is recorded and raises, so that a
    test sees whether Apply got past the PyTorch step without running the networks."""
    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.scene import torch_probe

    analytic_inputs(scene, widget)
    widget._parameterNode.measureExisting = False
    monkeypatch.setattr(torch_probe, "torch_package", torch)
    started = []

    def start(*args, **kwargs):
        started.append(kwargs.get("segment"))
        raise InputError("stand-in: the run would start here")

    monkeypatch.setattr(widget.logic, "startBackgroundRun", start)
    return started


def pytorch_utils(monkeypatch, calls, install):
    import sys

    class PyTorchUtilsLogic(object):
        def installTorch(self, askConfirmation=False, forceComputationBackend=None,
                         torchVersionRequirement=None, torchvisionVersionRequirement=None):
            calls.append(("installTorch", askConfirmation, torchVersionRequirement))
            return install()

    utils = types.ModuleType("PyTorchUtils")
    utils.PyTorchUtilsLogic = PyTorchUtilsLogic
    monkeypatch.setitem(sys.modules, "PyTorchUtils", utils)


def panel_ready(widget):
    ui = widget.ui
    return (widget._run is None and ui.applyButton.enabled and not ui.cancelButton.enabled
            and not ui.progressBar.visible and not widget._timer.active)


def phantom_nodes(scene, name, seed):
    """(phantom, CT node, segmentation with its condyle / temporal-bone segments)."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene import mrml_bridge

    phantom = make_phantom("analytic", seed=seed, variant="sphere", condyle_radius_mm=6.5)
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, name)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name + " joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation, [1, 2, 3, 4])
    return phantom, ct, segmentation


def nodes_of_class(scene, class_name):
    return [scene.GetNthNodeByClass(i, class_name)
            for i in range(scene.GetNumberOfNodesByClass(class_name))]
