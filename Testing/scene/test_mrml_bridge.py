"""MRML bridge and module file on real MRML scenes (slicer-core): geometry, segments, sides,
tables, models, the measure-existing-segments path (in process and in the background), and the
module's panel driven through minimal Qt stand-ins.

The checks themselves live in NegativeVolumeSegmentationSelfTest.checks so that the module's
NegativeVolumeSegmentationTest runs the identical checks inside 3D Slicer. The whole-pipeline
checks are in test_slicer_pipeline.py.
"""

import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest  # noqa: E402


def test_volume_geometry_roundtrip(scene):
    slicer_selftest.check_volume_geometry_roundtrip(scene)


def test_label_map_to_six_segments(scene):
    slicer_selftest.check_label_segments(scene)


def test_left_stays_left_on_flipped_rotated_grid(scene):
    slicer_selftest.check_left_stays_left(scene)


def test_transformed_segmentation_and_ct_keep_world_positions(scene):
    slicer_selftest.check_transformed_nodes(scene)


def test_results_table(scene):
    slicer_selftest.check_results_table(scene)


def test_thickness_model_in_ras(scene):
    slicer_selftest.check_thickness_model(scene)


def test_checks_can_fail(scene):
    """The shared checks do fail on a wrong answer (a geometry check with a shifted truth)."""
    with pytest.raises(AssertionError):
        slicer_selftest._close([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], 1e-3, "shifted point")


def test_logic_on_analytic_sphere_phantom(scene):
    results = slicer_selftest.check_logic_on_analytic_phantom(scene)
    for side in ("left", "right"):
        print(side, {k: results[side][k] for k in ("negative_volume_mm3", "condyle_volume_mm3",
                                                   "joint_space_mean_mm")},
              results["checks"][side])
    print("timings", results["timings_s"])


def test_show_results_points_slice_views_at_the_joint(scene):
    slicer_selftest.check_show_results(scene)


def test_background_measure_existing_matches_in_process(scene):
    results = slicer_selftest.check_background_measure_existing(scene)
    print("paper-mode NV", results["left"]["negative_volume_mm3"],
          results["right"]["negative_volume_mm3"], "timings", results["timings_s"])


# ----------------------------------------------------------------------------- module file
# The module file needs Slicer's Qt layer (qt, ctk, ScriptedLoadableModule, parameterNodeWrapper,
# slicer.app), which slicer-core lacks. Minimal stand-ins let its Python run here on a real scene:
# the Widget's setup and its Apply / timer / Cancel path (background runs for real), the Logic
# wrapper and the module's own self-test. Qt's event loop is replaced by calling the timer's
# slot by hand.
class _FakeWidget(object):
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


class _FakeTimer(object):
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


def _parameter_node_wrapper(cls):
    """Stand-in for @parameterNodeWrapper: the class's defaults on an object that forwards
    observers to its MRML node and binds to a GUI without doing anything."""
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    def __init__(self, node):
        self.parameterNode = node
        for name, value in defaults.items():
            setattr(self, name, value)

    methods = {"__init__": __init__, "__doc__": cls.__doc__,
               "connectGui": lambda self, ui: "gui-tag",
               "disconnectGui": lambda self, tag: None,
               "AddObserver": lambda self, *args: self.parameterNode.AddObserver(*args),
               "RemoveObserver": lambda self, tag: self.parameterNode.RemoveObserver(tag)}
    return type(cls.__name__, (object,), methods)


UI_NAMES = ("applyButton", "cancelButton", "progressBar", "statusLabel", "deviceInfoLabel",
            "leftNegativeVolumeLabel", "rightNegativeVolumeLabel", "leftCondyleVolumeLabel",
            "rightCondyleVolumeLabel", "leftJointSpaceLabel", "rightJointSpaceLabel",
            "asymmetryLabel", "asymmetryFlagLabel")


@pytest.fixture
def module_file(scene, monkeypatch, tmp_path):
    import importlib.util
    import os
    import sys

    qt = types.ModuleType("qt")
    qt.Qt = types.SimpleNamespace(WaitCursor=3)
    qt.QTimer = _FakeTimer
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
    wrapper.parameterNodeWrapper = _parameter_node_wrapper
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
    monkeypatch.setattr(slicer.util, "loadUI", lambda path: _FakeWidget())
    monkeypatch.setattr(slicer.util, "childWidgetVariables", lambda widget: types.SimpleNamespace(
        **{name: _FakeWidget() for name in UI_NAMES}))
    errors = []
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: errors.append(text))
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "NegativeVolumeSegmentation", "NegativeVolumeSegmentation.py")
    spec = importlib.util.spec_from_file_location("NegativeVolumeSegmentation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.errors_shown = errors
    return module


@pytest.fixture
def widget(module_file):
    """The module's Widget after its own setup() (on the fake Qt layer); cleaned up after."""
    widget = module_file.NegativeVolumeSegmentationWidget(types.SimpleNamespace(isEntered=False))
    widget.setup()
    yield widget
    widget.cleanup()


def _analytic_inputs(scene, widget, with_segments=True, seed=3):
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


def _tick_until_done(widget, timeout_s=120.0):
    import time

    deadline = time.perf_counter() + timeout_s
    while widget._run is not None:
        assert widget._timer.active, "a run is in progress but the timer is stopped"
        assert time.perf_counter() < deadline, "the background run did not end"
        widget._timer.connections["timeout()"]()  # what Qt's event loop would do
        time.sleep(0.1)


def test_module_texts_at_runtime(module_file):
    parent = types.SimpleNamespace()
    module_file.NegativeVolumeSegmentation(parent)
    assert parent.title == "Negative Volume Segmentation"
    assert parent.categories == ["Segmentation"]
    assert "Belikova" in parent.acknowledgementText
    # the sample data is registered once Slicer has started, not while modules load
    assert slicer.app.connections == [("startupCompleted()", module_file.registerSampleData)]


class _SampleDataStandIn(object):
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


def test_sample_data_generates_the_phantom_ct_locally(module_file, monkeypatch):
    """Registration against a Sample Data stand-in; its customDownloader (the button) writes the
    held-out head phantom into Slicer's cache as NRRD with the phantom's truth beside it and
    loads it; the file has the phantom's geometry, voxels and truth, and is reused."""
    import json
    import os
    import sys

    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.phantom import make_phantom

    sample_data = _SampleDataStandIn()
    monkeypatch.setitem(sys.modules, "SampleData", sample_data.module)
    module_file.registerSampleData()
    (source,) = sample_data.sources["Negative Volume Segmentation"]
    assert source.sampleName == "TMJ phantom head CT" and source.nodeNames == [source.sampleName]
    assert source.fileNames[0].endswith(".nrrd") and source.loadFileTypes == "VolumeFile"
    assert os.path.isfile(source.thumbnailFileName)
    cache = slicer.app.cachePath
    path = os.path.join(cache, source.fileNames[0])
    assert source.uris[0].startswith("file:") and source.uris[0].endswith(source.fileNames[0])
    assert not os.path.exists(path)  # nothing is generated at registration

    loaded = []
    monkeypatch.setattr(slicer.util, "loadVolume",
                        lambda filename, properties=None: loaded.append((filename, properties))
                        or "volume node")
    assert source.customDownloader(source) == "volume node"  # what the Sample Data button does
    assert loaded == [(path, {"name": "TMJ phantom head CT"})]
    assert sorted(os.listdir(cache)) == sorted([source.fileNames[0], source.fileNames[0][:-5]
                                                + ".truth.json"])  # no partial file left

    expected = make_phantom("head", seed=100010, fov="head", mouth="closed",
                            spacing=(0.65, 0.65, 1.25))
    with open(path, "rb") as handle:
        header = handle.read(1000).split(b"\n\n")[0].decode("ascii")
    assert "type: short" in header and "space: left-posterior-superior" in header
    ct = sitk.ReadImage(path)
    assert ct.GetSize() == expected.ct.GetSize() and ct.GetPixelID() == sitk.sitkInt16
    for got, want in ((ct.GetSpacing(), (0.65, 0.65, 1.25)),
                      (ct.GetOrigin(), expected.ct.GetOrigin()),
                      (ct.GetDirection(), expected.ct.GetDirection())):
        assert max(abs(a - b) for a, b in zip(got, want)) < 1e-9, (got, want)
    assert (sitk.GetArrayFromImage(ct) == sitk.GetArrayFromImage(expected.ct)).all()
    with open(path[:-5] + ".truth.json") as handle:
        truth = json.load(handle)
    assert truth == json.loads(json.dumps(expected.truth))
    for side in ("left", "right"):
        # a whole-head CT: the truth's condyle centre lies in bone in the file's own geometry
        centre = truth[side]["condyle_center_lps_mm"]
        assert ct.GetPixel(ct.TransformPhysicalPointToIndex(centre)) > 200
        assert truth[side]["negative_volume_mm3"] > 100.0

    stamp = os.path.getmtime(path)
    source.customDownloader(source)  # second click: the cached file, not a new phantom
    assert os.path.getmtime(path) == stamp
    assert loaded[-1] == (path, {"name": "TMJ phantom head CT"})


def test_sample_data_without_the_sample_data_module(module_file, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "SampleData", None)  # disabled in this Slicer
    assert module_file.registerSampleData() is None


def test_widget_setup_wires_buttons_timer_and_device(widget):
    ui = widget.ui
    assert ui.applyButton.connections["clicked(bool)"] == widget.onApplyButton
    assert ui.cancelButton.connections["clicked(bool)"] == widget.onCancelButton
    assert widget._timer.connections["timeout()"] == widget._onTimer and not widget._timer.active
    assert "GPU" in ui.deviceInfoLabel.text and "PyTorch" in ui.deviceInfoLabel.text
    assert not ui.cancelButton.enabled and not ui.progressBar.visible
    assert not ui.applyButton.enabled and "CT" in ui.applyButton.toolTip  # no input yet


def test_widget_background_run_fills_results(module_file, widget, scene):
    """Apply (measure existing segments) runs in the background; the timer follows it; the
    numbers reach the panel and the table; the buttons come back."""
    phantom = _analytic_inputs(scene, widget)
    parameters = widget._parameterNode
    left, right = (phantom.truth[s]["negative_volume_mm3"] for s in ("left", "right"))
    truth_asymmetry = 100.0 * abs(left - right) / (left + right)
    parameters.asymmetryThreshold = truth_asymmetry - 5.0
    shown = []
    widget.logic.showResults = lambda results, volume=None, side=None: shown.append(volume)
    widget._checkCanApply()
    assert widget.ui.applyButton.enabled
    widget.onApplyButton()
    assert widget._run is not None and widget._timer.active
    assert widget.ui.cancelButton.enabled and not widget.ui.applyButton.enabled
    assert widget.ui.progressBar.visible
    _tick_until_done(widget)
    assert module_file.errors_shown == []
    table = parameters.resultsTable.GetTable()
    for side in ("left", "right"):
        nv = table.GetColumnByName(side.capitalize()).GetValue(0)
        truth = phantom.truth[side]["negative_volume_mm3"]
        assert abs(nv - truth) < 0.05 * truth, (side, nv, truth)
        assert getattr(widget.ui, side + "NegativeVolumeLabel").text == "%.1f mm³" % nv
        assert getattr(widget.ui, side + "CondyleVolumeLabel").text.endswith("mm³")
        assert getattr(widget.ui, side + "JointSpaceLabel").text.startswith("min ")
    # the flag follows the threshold around the phantom's true NV asymmetry (+-5 points)
    flag = widget.ui.asymmetryFlagLabel
    assert flag.visible and "negative volume" in flag.text
    parameters.asymmetryThreshold = truth_asymmetry + 5.0
    widget._checkCanApply()  # what the parameter node's Modified event calls
    assert not widget.ui.asymmetryFlagLabel.visible
    assert widget.ui.statusLabel.text.startswith("Done in")
    assert widget.ui.progressBar.values[-1] == 100 and not widget.ui.progressBar.visible
    assert widget.ui.applyButton.enabled and not widget.ui.cancelButton.enabled
    assert shown == [parameters.inputVolume]
    assert scene.GetNodeByID(parameters.outputSegmentation.GetID()) is not None


def test_widget_cancel_leaves_scene_untouched(module_file, widget, scene):
    import os

    _analytic_inputs(scene, widget)
    segments = widget._parameterNode.outputSegmentation.GetSegmentation().GetNumberOfSegments()
    nodes = scene.GetNumberOfNodes()
    widget.onApplyButton()
    run = widget._run
    assert run is not None and os.path.isdir(run.temp_dir)
    temp_dir = run.temp_dir
    widget.onCancelButton()
    assert widget._run is None and not widget._timer.active
    assert run.state == "cancelled" and run.process.poll() is not None
    assert not os.path.exists(temp_dir)
    assert scene.GetNumberOfNodes() == nodes
    segmentation = widget._parameterNode.outputSegmentation.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == segments
    assert widget.ui.applyButton.enabled and not widget.ui.cancelButton.enabled
    assert not widget.ui.progressBar.visible and widget.ui.statusLabel.text.startswith("Cancelled")


def test_widget_error_is_shown_and_panel_recovers(module_file, widget, scene):
    _analytic_inputs(scene, widget, with_segments=False)
    nodes = scene.GetNumberOfNodes()
    widget.onApplyButton()
    assert widget._run is None
    assert len(module_file.errors_shown) == 1
    message = module_file.errors_shown[0].split("\n", 1)[1]
    assert "needs a condyle and a temporal bone segment" in message and "\n" not in message
    assert widget.ui.statusLabel.text.startswith("Failed: ")
    assert widget.ui.applyButton.enabled and not widget.ui.cancelButton.enabled
    assert not widget.ui.progressBar.visible and scene.GetNumberOfNodes() == nodes


class _Torch(object):
    """What torch_probe finds on disk; an installer stand-in changes it."""

    def __init__(self, installed=False, version=None):
        self.package = (installed, version, None)

    def __call__(self):
        return self.package


def _segment_inputs(scene, widget, monkeypatch, torch):
    """Inputs for a segmenting Apply; startBackgroundRun is recorded and raises, so that a
    test sees whether Apply got past the PyTorch step without running the networks."""
    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.scene import torch_probe

    _analytic_inputs(scene, widget)
    widget._parameterNode.measureExisting = False
    monkeypatch.setattr(torch_probe, "torch_package", torch)
    started = []

    def start(*args, **kwargs):
        started.append(kwargs.get("segment"))
        raise InputError("stand-in: the run would start here")

    monkeypatch.setattr(widget.logic, "startBackgroundRun", start)
    return started


def _pytorch_utils(monkeypatch, calls, install):
    import sys

    class PyTorchUtilsLogic(object):
        def installTorch(self, askConfirmation=False, forceComputationBackend=None,
                         torchVersionRequirement=None, torchvisionVersionRequirement=None):
            calls.append(("installTorch", askConfirmation, torchVersionRequirement))
            return install()

    utils = types.ModuleType("PyTorchUtils")
    utils.PyTorchUtilsLogic = PyTorchUtilsLogic
    monkeypatch.setitem(sys.modules, "PyTorchUtils", utils)


def _panel_ready(widget):
    ui = widget.ui
    return (widget._run is None and ui.applyButton.enabled and not ui.cancelButton.enabled
            and not ui.progressBar.visible and not widget._timer.active)


@pytest.mark.parametrize("installed, version", [(False, None), (True, "1.12.1+cu113")])
def test_widget_asks_pytorchutils_for_torch_113_and_recovers_when_declined(
        module_file, widget, scene, monkeypatch, installed, version):
    """Missing or too old PyTorch: Apply asks SlicerPyTorch's installTorch (which asks the user)
    for >=1.13; None back (declined) leaves a status line and the panel ready, nothing run."""
    torch = _Torch(installed, version)
    started = _segment_inputs(scene, widget, monkeypatch, torch)
    calls = []
    _pytorch_utils(monkeypatch, calls, lambda: None)
    widget.onApplyButton()
    assert calls == [("installTorch", True, ">=1.13")] and started == []
    assert widget.ui.statusLabel.text.startswith("Not started: segmenting the CT needs PyTorch "
                                                 "1.13 or newer")
    assert _panel_ready(widget) and module_file.errors_shown == []


def test_widget_reports_an_installer_that_raises_or_installs_too_old(module_file, widget,
                                                                     scene, monkeypatch):
    torch = _Torch(False)
    started = _segment_inputs(scene, widget, monkeypatch, torch)
    calls = []

    def broken():
        raise RuntimeError("light-the-torch:\n no network")

    _pytorch_utils(monkeypatch, calls, broken)
    widget.onApplyButton()
    assert started == [] and _panel_ready(widget)
    assert widget.ui.statusLabel.text == ("Not started: PyTorch could not be installed: "
                                          "light-the-torch: no network")
    assert len(module_file.errors_shown) == 1 and "no network" in module_file.errors_shown[0]

    def too_old():  # the installer "succeeds" but what is on disk is still too old
        torch.package = (True, "1.10.0", None)
        return object()

    _pytorch_utils(monkeypatch, calls, too_old)
    widget.onApplyButton()
    assert started == [] and _panel_ready(widget)
    assert widget.ui.statusLabel.text == ("Not started: Segmenting the CT needs PyTorch 1.13 or "
                                          "newer; PyTorch 1.10.0 is installed.")
    assert "1.10.0" in widget.ui.deviceInfoLabel.text  # the device line was re-read


def test_widget_goes_on_once_pytorch_is_installed(module_file, widget, scene, monkeypatch):
    torch = _Torch(False)
    started = _segment_inputs(scene, widget, monkeypatch, torch)
    calls = []

    def install():
        torch.package = (True, "2.3.1+cpu", None)
        return object()

    _pytorch_utils(monkeypatch, calls, install)
    widget.onApplyButton()
    assert calls == [("installTorch", True, ">=1.13")] and started == [True]
    assert "2.3.1" in widget.ui.deviceInfoLabel.text
    widget.onApplyButton()  # now found on disk: no second install
    assert len(calls) == 1 and started == [True, True]


def test_widget_without_pytorchutils_asks_before_pip(module_file, widget, scene, monkeypatch):
    """Without the PyTorch extension: a confirmation first; no means no pip; a pip failure or
    success ends as a status line or the run."""
    import sys

    torch = _Torch(True, "1.8.0")
    started = _segment_inputs(scene, widget, monkeypatch, torch)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the extension is not installed
    calls, answers = [], [False, True, True]
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay",
                        lambda text, *a, **k: calls.append(("confirm", text)) or answers.pop(0))
    results = [RuntimeError("pip failed: no space left"), None]

    def pip_install(requirement):
        calls.append(("pip", requirement))
        outcome = results.pop(0)
        if outcome is not None:
            raise outcome
        torch.package = (True, "2.0.1", None)

    monkeypatch.setattr(slicer.util, "pip_install", pip_install)
    widget.onApplyButton()
    assert [c[0] for c in calls] == ["confirm"] and started == [] and _panel_ready(widget)
    assert "1.8.0" in calls[0][1] and "torch>=1.13" in calls[0][1]
    assert "declined" in widget.ui.statusLabel.text
    widget.onApplyButton()
    assert calls[1:] == [("confirm", calls[0][1]), ("pip", "torch>=1.13")]
    assert started == [] and _panel_ready(widget)
    assert widget.ui.statusLabel.text.endswith("could not be installed: pip failed: no space left")
    widget.onApplyButton()
    assert [c[0] for c in calls[3:]] == ["confirm", "pip"] and started == [True]


def test_module_logic_wrapper_process_in_process(module_file, scene):
    """The module's Logic (Python console / batch API) measures existing segments in process."""
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    phantom = make_phantom("analytic", seed=3, variant="sphere", condyle_radius_mm=6.5)
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation, [1, 2, 3, 4])
    progress = []
    logic = module_file.NegativeVolumeSegmentationLogic()
    logic.progress = lambda fraction, message: progress.append(fraction)
    results = logic.process(ct, segmentation, segment=False)
    for side in ("left", "right"):
        truth = phantom.truth[side]["negative_volume_mm3"]
        assert abs(results[side]["negative_volume_mm3"] - truth) < 0.05 * truth
    assert progress[-1] == 1.0 and progress == sorted(progress)


def test_module_self_test_without_torch_runs_the_rest_and_says_why(module_file, capsys,
                                                                   monkeypatch):
    """Without PyTorch the module's Test runs every check that does not segment, for real, and
    names the skipped ones with the reason; none of them is started."""
    from NegativeVolumeSegmentationLib.scene import torch_probe

    monkeypatch.setattr(torch_probe, "torch_package", lambda: (False, None, None))
    module_file.NegativeVolumeSegmentationTest().runTest()
    out = capsys.readouterr().out
    for check in slicer_selftest.MRML_CHECKS:
        assert "Running %s" % check.__name__ in out
    for check in slicer_selftest.PIPELINE_CHECKS:
        assert "Running %s" % check.__name__ not in out
    skip_line = [line for line in out.splitlines() if "Skipped:" in line]
    assert len(skip_line) == 1, out
    assert skip_line[0].startswith("PyTorch is not installed: install it with the PyTorch "
                                   "extension to run the segmentation checks")
    for check in slicer_selftest.PIPELINE_CHECKS:
        assert check.__name__ in skip_line[0]
    assert "All negative volume checks passed" not in out
    assert ("The %d negative volume checks that run without PyTorch passed; %d skipped"
            % (len(slicer_selftest.MRML_CHECKS), len(slicer_selftest.PIPELINE_CHECKS))) in out


def _recording_checks(calls):
    """Two checks that record which earlier nodes they find in the scene, and leave one."""
    def names(scene):
        return sorted(name for name in ("before", "left behind")
                      if scene.GetFirstNodeByName(name) is not None)

    def plain_check(scene):
        calls.append(("plain", names(scene)))
        scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "left behind")

    def torch_check(scene):
        calls.append(("torch", names(scene)))
        scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "left behind")

    return plain_check, torch_check


def test_self_test_body_with_torch_runs_every_check_on_a_cleared_scene(scene, monkeypatch):
    """run_self_test (the body of the module's Test, callable outside Slicer): with PyTorch every
    check runs, each on a cleared scene; a failing check fails the run."""
    from NegativeVolumeSegmentationLib.scene import torch_probe

    calls, said = [], []
    plain_check, torch_check = _recording_checks(calls)
    monkeypatch.setattr(slicer_selftest, "TORCH_CHECKS", (torch_check,))
    monkeypatch.setattr(torch_probe, "torch_package", lambda: (True, "2.1.0+cpu", None))
    scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "before")
    outcome = slicer_selftest.run_self_test(scene, said.append, (plain_check, torch_check))
    assert calls == [("plain", []), ("torch", [])]
    assert scene.GetFirstNodeByName("left behind") is None  # cleared after the last one too
    assert outcome == {"passed": ["plain_check", "torch_check"], "skipped": [], "reason": None}
    assert said == ["Running plain_check", "Running torch_check",
                    "All negative volume checks passed"]

    def failing_check(scene):
        raise AssertionError("measured 2, expected 3")

    with pytest.raises(AssertionError, match="measured 2"):
        slicer_selftest.run_self_test(scene, said.append, (failing_check,))


def test_self_test_body_skips_only_the_torch_checks(scene, monkeypatch):
    from NegativeVolumeSegmentationLib.scene import torch_probe

    calls, said = [], []
    plain_check, torch_check = _recording_checks(calls)
    monkeypatch.setattr(slicer_selftest, "TORCH_CHECKS", (torch_check,))
    monkeypatch.setattr(torch_probe, "torch_package", lambda: (True, "1.12.1+cu113", "11.3"))
    outcome = slicer_selftest.run_self_test(scene, said.append, (torch_check, plain_check))
    assert [c[0] for c in calls] == ["plain"]
    assert outcome["skipped"] == ["torch_check"] and outcome["passed"] == ["plain_check"]
    assert "1.12.1" in outcome["reason"] and "older than 1.13" in outcome["reason"]
    assert said[0] == outcome["reason"] + ". Skipped: torch_check."


@pytest.mark.parametrize("package, problem", [
    ((False, None, None), "PyTorch is not installed"),
    ((True, "1.12.1", None), "PyTorch 1.12.1 is older than 1.13"),
    ((True, "0.4.0", None), "PyTorch 0.4.0 is older than 1.13"),
    ((True, "1.13.0+cu117", "11.7"), None),
    ((True, "2.5.1", None), None),
    ((True, "10.0", None), None),
])
def test_torch_problem_reads_the_installed_version(monkeypatch, package, problem):
    from NegativeVolumeSegmentationLib.scene import torch_probe

    monkeypatch.setattr(torch_probe, "torch_package", lambda: package)
    found = slicer_selftest.torch_problem()
    if problem is None:
        assert found is None
    else:
        assert found.startswith(problem)
