"""MRML bridge on real MRML scenes (slicer-core): geometry, segments, sides, tables, models.

The checks themselves live in NegativeVolumeSegmentationLib.slicer_selftest so that the module's
NegativeVolumeSegmentationTest runs the identical checks inside 3D Slicer.
"""

import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationLib import slicer_selftest  # noqa: E402


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


# ----------------------------------------------------------------------------- module file
# The module file needs Slicer's Qt layer (qt, ctk, ScriptedLoadableModule, parameterNodeWrapper,
# slicer.app), which slicer-core lacks. Minimal stand-ins let its Python run here on a real scene:
# the Logic wrapper, the Apply path of the Widget and the module's own self-test.
class _FakeWidget(object):
    def __init__(self):
        self.text, self.toolTip, self.enabled, self.visible, self.values = "", "", True, True, []

    def setVisible(self, visible):
        self.visible = visible

    def setValue(self, value):
        self.values.append(value)


def _parameter_node_wrapper(cls):
    """Stand-in for @parameterNodeWrapper: an object with the class's defaults."""
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    def __init__(self, node):
        self.parameterNode = node
        for name, value in defaults.items():
            setattr(self, name, value)

    return type(cls.__name__, (object,), {"__init__": __init__, "__doc__": cls.__doc__})


@pytest.fixture
def module_file(scene, monkeypatch):
    import importlib.util
    import os
    import sys

    qt = types.ModuleType("qt")
    qt.Qt = types.SimpleNamespace(WaitCursor=3)
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule(object):
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget(object):
        def __init__(self, parent=None):
            self.parent = parent

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
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(
        processEvents=lambda: None, setOverrideCursor=lambda cursor: None,
        restoreOverrideCursor=lambda: None, testingEnabled=lambda: True,
        layoutManager=lambda: None), raising=False)
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "NegativeVolumeSegmentation", "NegativeVolumeSegmentation.py")
    spec = importlib.util.spec_from_file_location("NegativeVolumeSegmentation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _widget(module_file):
    widget = module_file.NegativeVolumeSegmentationWidget()
    widget.ui = types.SimpleNamespace(**{name: _FakeWidget() for name in (
        "applyButton", "progressBar", "statusLabel", "leftNegativeVolumeLabel",
        "rightNegativeVolumeLabel", "leftJointSpaceLabel", "rightJointSpaceLabel",
        "asymmetryLabel")})
    widget.logic = module_file.NegativeVolumeSegmentationLogic()
    widget._parameterNode = widget.logic.getParameterNode()
    return widget


def test_module_texts_at_runtime(module_file):
    parent = types.SimpleNamespace()
    module_file.NegativeVolumeSegmentation(parent)
    assert parent.title == "Negative Volume Segmentation"
    assert parent.categories == ["Segmentation"]
    assert "Belikova" in parent.acknowledgementText


def test_widget_apply_fills_results(module_file, scene):
    from NegativeVolumeSegmentationLib import mrml_bridge
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    phantom = make_phantom("analytic", seed=3, variant="sphere", condyle_radius_mm=6.5)
    widget = _widget(module_file)
    parameters = widget._parameterNode
    parameters.inputVolume = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    parameters.segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, parameters.segmentation, [1, 2, 3, 4])
    assert parameters.maxDistance == 10.0 and parameters.mode == "confined"
    widget.onApplyButton()
    table = parameters.resultsTable.GetTable()
    for row, side in enumerate(("left", "right")):
        nv = table.GetColumnByName(side.capitalize()).GetValue(0)
        truth = phantom.truth[side]["negative_volume_mm3"]
        assert abs(nv - truth) < 0.05 * truth, (side, nv, truth)
        label = getattr(widget.ui, side + "NegativeVolumeLabel").text
        assert label.startswith("%.1f mm³" % nv), label
    assert widget.ui.progressBar.values[-1] == 100 and not widget.ui.progressBar.visible
    assert widget.ui.statusLabel.text.startswith("Done in")
    assert widget.ui.applyButton.enabled


def test_widget_apply_without_segmentation_reports_and_recovers(module_file):
    from NegativeVolumeSegmentationLib.errors import InputError

    widget = _widget(module_file)
    with pytest.raises(InputError, match="no segmentation selected"):
        widget.onApplyButton()
    assert not widget.ui.progressBar.visible and not widget.ui.applyButton.enabled


def test_module_self_test_runs_all_checks(module_file, capsys):
    module_file.NegativeVolumeSegmentationTest().runTest()
    assert "All negative volume checks passed" in capsys.readouterr().out
