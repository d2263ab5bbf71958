"""The panel around its background runs, on Qt stand-ins and a real MRML scene: each CT keeps its
own outputs, a run's results go over that run's CT, stale numbers go, thickness models follow the
option, and no failure leaves the panel "running" (node names, edits and failed writes of a
background run: test_background_run_scene.py).
The runs are real (measure existing segments of analytic phantoms; no PyTorch needed)."""

import os
import sys

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from panel_standins import (analytic_inputs, nodes_of_class as _nodes,  # noqa: E402
                            panel_ready, phantom_nodes as _phantom_nodes, tick_until_done)

ROLE_PREFIX = "NegativeVolumeSegmentation."


def _quiet_views(widget):
    widget.logic.showResults = lambda results, volume=None, side=None: None


def _numbers(widget):
    ui = widget.ui
    return (ui.leftNegativeVolumeLabel.text, ui.rightNegativeVolumeLabel.text,
            ui.asymmetryLabel.text, ui.statusLabel.text, ui.asymmetryFlagLabel.visible)


CLEARED = ("–", "–", "–", "", False)


# ----------------------------------------------------------------------------- 1. per-CT outputs
def test_another_ct_never_writes_into_the_first_cts_outputs(scene):
    """Two runs on two CTs: each has its own table and thickness models; the first CT's stay as
    they were (they used to be found by a fixed name and overwritten)."""
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic
    from NegativeVolumeSegmentationLib.scene.results_writer import made_for_volume

    logic = MeasurementLogic()
    _p1, ct1, seg1 = _phantom_nodes(scene, "CT1", 3)
    first = logic.process(ct1, seg1, segment=False)
    table1 = scene.GetNodeByID(first["nodes"]["table"])
    nv1 = table1.GetTable().GetColumnByName("Left").GetValue(0)
    models1 = dict(first["nodes"]["thickness_models"])
    assert sorted(models1) == ["left", "right"]
    points1 = scene.GetNodeByID(models1["left"]).GetPolyData().GetNumberOfPoints()

    _p2, ct2, seg2 = _phantom_nodes(scene, "CT2", 8)
    second = logic.process(ct2, seg2, segment=False)
    assert second["nodes"]["table"] != first["nodes"]["table"]
    assert not set(second["nodes"]["thickness_models"].values()) & set(models1.values())
    assert table1.GetName() == "CT1 negative volume results"
    assert scene.GetNodeByID(second["nodes"]["table"]).GetName() == "CT2 negative volume results"
    assert table1.GetTable().GetColumnByName("Left").GetValue(0) == nv1  # untouched
    assert second["left"]["negative_volume_mm3"] != pytest.approx(nv1)
    for side, model_id in models1.items():
        assert scene.GetNodeByID(model_id) is not None
    assert scene.GetNodeByID(models1["left"]).GetPolyData().GetNumberOfPoints() == points1
    # each output says which CT it was made for
    assert made_for_volume(seg1) is ct1 and made_for_volume(table1) is ct1
    assert made_for_volume(seg2) is ct2
    # the models are named for their CT too; the report names the segmentation measured
    names = [scene.GetNodeByID(i).GetName() for i in sorted(second["nodes"]["thickness_models"]
                                                            .values())]
    assert sorted(names) == ["CT2 left condyle joint space thickness",
                             "CT2 right condyle joint space thickness"]
    assert scene.GetNodeByID(models1["left"]).GetName() == "CT1 left condyle joint space thickness"
    assert second["inputs"]["ct_volume"] == "CT2" and second["inputs"]["segmented"] is False
    assert second["inputs"]["segmentation"] == "CT2 joints"
    # a re-run into the same segmentation replaces its own outputs, adds nothing
    count = scene.GetNumberOfNodes()
    again = logic.process(ct1, seg1, segment=False)
    assert again["nodes"]["table"] == first["nodes"]["table"]
    assert again["nodes"]["thickness_models"] == models1
    assert scene.GetNumberOfNodes() == count


def test_choosing_another_ct_resets_outputs_made_for_the_first(module_file, widget, scene,
                                                               monkeypatch):
    """After a run on CT1 the selectors hold CT1's segmentation and table; picking CT2 sets them
    back to "create new" and clears CT1's numbers, so Apply makes "CT2 TMJ segmentation"."""
    from NegativeVolumeSegmentationLib.scene import torch_probe

    _quiet_views(widget)
    parameters = widget._parameterNode
    analytic_inputs(scene, widget)
    ct1, seg1 = parameters.inputVolume, parameters.outputSegmentation
    widget.onApplyButton()
    tick_until_done(widget)
    assert module_file.errors_shown == []
    table1 = parameters.resultsTable
    assert parameters.outputSegmentation is seg1 and table1 is not None
    assert widget.ui.leftNegativeVolumeLabel.text.endswith("mm³")

    ct2 = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT2")
    parameters.inputVolume = ct2  # what the CT selector does
    assert parameters.outputSegmentation is None and parameters.resultsTable is None
    assert _numbers(widget) == CLEARED
    # back to CT1: its own outputs again (a second "CT1 TMJ segmentation" was made before)
    parameters.inputVolume = ct1
    assert parameters.outputSegmentation is seg1 and parameters.resultsTable is table1
    # another segmentation for CT1 (a corrected copy): seg1's table is not its table to fill
    copy = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT1 corrected")
    parameters.outputSegmentation = copy
    assert parameters.resultsTable is None
    parameters.outputSegmentation = seg1
    parameters.resultsTable = table1
    parameters.inputVolume = ct2
    assert parameters.outputSegmentation is None and parameters.resultsTable is None

    # a segmentation the user picks for CT2 stays (it was made for no other CT)
    own = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "drawn on CT2")
    parameters.outputSegmentation = own
    parameters.inputVolume = ct1
    assert parameters.outputSegmentation is own  # not made by a run: kept
    parameters.inputVolume = ct2

    parameters.outputSegmentation = None
    parameters.measureExisting = False
    monkeypatch.setattr(torch_probe, "torch_package", lambda: (True, "2.1.0", None))
    started = []

    def start(volume, segmentation, table_node=None, **options):
        started.append((volume, segmentation, table_node))
        raise RuntimeError("stand-in: the run would start here")

    monkeypatch.setattr(widget.logic, "startBackgroundRun", start)
    widget.onApplyButton()
    assert started == [(ct2, None, None)]
    assert ct1.GetScene() is scene and table1.GetScene() is scene


# ----------------------------------------------------------------------------- 2. the run's own CT
def test_results_go_over_the_runs_own_ct_and_selectors_wait(module_file, widget, scene):
    analytic_inputs(scene, widget)
    parameters = widget._parameterNode
    shown = []
    widget.logic.showResults = lambda results, volume=None, side=None: shown.append(volume)
    ct, segmentation = parameters.inputVolume, parameters.outputSegmentation
    ui = widget.ui
    assert ui.inputVolumeSelector.enabled and ui.outputSegmentationSelector.enabled
    widget.onApplyButton()
    assert not ui.inputVolumeSelector.enabled and not ui.outputSegmentationSelector.enabled
    assert not ui.resultsTableSelector.enabled
    other = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "OtherPatientCT")
    parameters.inputVolume = other  # a script, say: the selector itself is disabled
    tick_until_done(widget)
    assert module_file.errors_shown == []
    assert shown == [ct]
    assert ui.inputVolumeSelector.enabled and ui.resultsTableSelector.enabled
    # CT1's outputs are not offered for the other CT
    assert parameters.inputVolume is other and parameters.outputSegmentation is None
    assert parameters.resultsTable is None
    assert segmentation.GetSegmentation().GetSegmentIdBySegmentName("Left negative volume")


# ----------------------------------------------------------------------------- 3. stale numbers
@pytest.mark.parametrize("how", ["scene closed", "another CT"])
def test_old_numbers_go(module_file, widget, scene, how):
    analytic_inputs(scene, widget)
    _quiet_views(widget)
    widget._parameterNode.asymmetryThreshold = 0.0  # the red flag shows
    widget.onApplyButton()
    tick_until_done(widget)
    assert widget.ui.asymmetryFlagLabel.visible and widget.ui.statusLabel.text.startswith("Done")
    if how == "scene closed":
        widget.onSceneStartClose(None, None)
        scene.Clear(0)
        widget.onSceneEndClose(None, None)
    else:
        widget._parameterNode.inputVolume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    assert _numbers(widget) == CLEARED
    widget._checkCanApply()  # the threshold's Modified event: no flag for results gone
    assert not widget.ui.asymmetryFlagLabel.visible


# ----------------------------------------------------------------------------- 4. thickness off
def test_rerun_without_thickness_models_removes_them_and_their_legends(scene):
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    _p, ct, segmentation = _phantom_nodes(scene, "CT", 3)
    logic = MeasurementLogic()
    first = logic.process(ct, segmentation, segment=False, show_thickness=True)
    models = first["nodes"]["thickness_models"]
    legends = first["nodes"]["color_legends"]
    assert sorted(models) == ["left", "right"]
    second = logic.process(ct, segmentation, segment=False, show_thickness=False)
    assert second["nodes"]["thickness_models"] == {} and second["nodes"]["color_legends"] == {}
    for node_id in list(models.values()) + list(legends.values()):
        assert scene.GetNodeByID(node_id) is None, node_id
    assert [n.GetName() for n in _nodes(scene, "vtkMRMLModelNode")
            if "thickness" in n.GetName()] == []
    assert segmentation.GetNodeReference(ROLE_PREFIX + "leftThicknessModel") is None
    third = logic.process(ct, segmentation, segment=False, show_thickness=True)
    assert sorted(third["nodes"]["thickness_models"]) == ["left", "right"]


# ----------------------------------------------------------------------------- 6. never stuck
def _apply_with_a_fake_child(widget, scene, monkeypatch, tmp_path, script):
    """Apply with the background child replaced by the shell ``script``; wait for it to end,
    then one tick of the panel's timer (it must not raise). Returns (the run, its temporary
    folder)."""
    import time

    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    fake = tmp_path / "python"
    fake.write_text(script)
    fake.chmod(0o755)
    analytic_inputs(scene, widget)
    _quiet_views(widget)
    monkeypatch.setattr(
        widget.logic, "startBackgroundRun",
        lambda volume, segmentation, table_node=None, **options: BackgroundRun(
            volume, segmentation, python_executable=str(fake), table_node=table_node,
            **options).start())
    widget.onApplyButton()
    run = widget._run
    temp_dir = run.temp_dir
    deadline = time.perf_counter() + 30
    while run.process.poll() is None and time.perf_counter() < deadline:
        time.sleep(0.05)
    widget._timer.connections["timeout()"]()
    return run, temp_dir


def test_undecodable_stderr_ends_the_run_with_its_message(module_file, widget, scene,
                                                          monkeypatch, tmp_path):
    """A child that writes non-UTF-8 bytes and exits 1: one tick ends the run with its message
    (bytes replaced), the temporary folder goes, the panel is ready."""
    run, temp_dir = _apply_with_a_fake_child(widget, scene, monkeypatch, tmp_path, r"""#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "--progress-file" ]; then printf '{"stage": "r\351ad"}\n' > "$2"; fi
  shift
done
printf 'nvseg: caf\351 \377 failed\n' >&2
exit 1
""")
    assert panel_ready(widget), "the panel stays running"
    assert run.state == "failed" and not os.path.exists(temp_dir)
    assert len(module_file.errors_shown) == 1
    assert "caf\ufffd \ufffd failed" in module_file.errors_shown[0]
    assert widget.ui.statusLabel.text == "Failed: caf\ufffd \ufffd failed"


def test_an_internal_error_of_the_child_shows_one_line_and_logs_its_traceback(
        module_file, widget, scene, monkeypatch, tmp_path, caplog):
    """A bug in the background process (not bad input): the panel shows one line naming it,
    the child's traceback goes to the log (Slicer's Python console) instead of a suggestion to
    set an environment variable the user cannot set for the child."""
    import logging

    with caplog.at_level(logging.ERROR):
        run, _ = _apply_with_a_fake_child(widget, scene, monkeypatch, tmp_path, r"""#!/bin/sh
[ "$NVSEG_DEBUG" = "1" ] || { echo "nvseg: internal error: ValueError: boom (set NVSEG_DEBUG=1 for details)" >&2; exit 1; }
printf 'Traceback (most recent call last):\n  File "engine/inflate.py", line 7, in rays\nValueError: boom\n' >&2
exit 1
""")
    assert panel_ready(widget) and run.state == "failed"
    shown = module_file.errors_shown[0]
    assert "internal error" in shown and "ValueError: boom" in shown, shown
    assert "NVSEG_DEBUG" not in shown and "\n" not in run.error, run.error
    assert any('File "engine/inflate.py", line 7' in record.getMessage()
               for record in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_tick_that_raises_ends_the_run(module_file, widget, scene, monkeypatch):
    """Whatever goes wrong in a tick (here poll itself) ends the run with a message; the
    process and its temporary folder are gone."""
    analytic_inputs(scene, widget)
    widget.onApplyButton()
    run = widget._run
    temp_dir = run.temp_dir

    def broken_poll():
        raise OSError("progress file vanished")

    monkeypatch.setattr(run, "poll", broken_poll)
    widget._timer.connections["timeout()"]()
    assert panel_ready(widget)
    assert run.state == "cancelled" and not os.path.exists(temp_dir)
    assert run.process.poll() is not None
    assert widget.ui.statusLabel.text == "Failed: progress file vanished"
    assert len(module_file.errors_shown) == 1


# ----------------------------------------------------------------------------- 7. deleted nodes
@pytest.mark.parametrize("what", ["the CT volume", "the output segmentation"])
def test_node_removed_during_the_run_is_said_in_one_line(module_file, widget, scene, what):
    analytic_inputs(scene, widget)
    _quiet_views(widget)
    parameters = widget._parameterNode
    node = parameters.inputVolume if what == "the CT volume" else parameters.outputSegmentation
    name = node.GetName()
    nodes = scene.GetNumberOfNodes()
    widget.onApplyButton()
    scene.RemoveNode(node)
    tick_until_done(widget)
    assert panel_ready(widget)
    assert len(module_file.errors_shown) == 1
    message = module_file.errors_shown[0].split("\n", 1)[1]
    assert message == ("%s %r was removed from the scene during the run; nothing written"
                       % (what, name))
    assert scene.GetNumberOfNodes() == nodes - 1  # nothing written


# ----------------------------------------------------------------------------- 8. Cancel in time
@pytest.mark.parametrize("how", ["Cancel", "scene closed"])
def test_cancel_while_results_load_is_no_failure(module_file, widget, scene, monkeypatch, how):
    analytic_inputs(scene, widget)
    _quiet_views(widget)
    nodes = scene.GetNumberOfNodes()
    widget.onApplyButton()

    def meanwhile():  # the user's click, handled in _onTimer's processEvents()
        if how == "Cancel":
            widget.onCancelButton()
        else:
            widget.onSceneStartClose(None, None)

    monkeypatch.setattr(slicer.app, "processEvents", meanwhile)
    tick_until_done(widget)
    assert module_file.errors_shown == []
    assert widget.ui.statusLabel.text.startswith("Cancelled")
    assert widget._run is None and not widget._timer.active
    assert scene.GetNumberOfNodes() == nodes  # nothing written


# ----------------------------------------------------------------------------- 9. light startup
def test_sample_data_registration_imports_no_phantom(module_file, monkeypatch):
    """registerSampleData runs at every Slicer start: it names the sample file without importing
    the phantom package (SimpleITK); the name is the one the generator writes."""
    from panel_standins import SampleDataStandIn

    from NegativeVolumeSegmentationLib.phantom.sample_ct import file_name
    from NegativeVolumeSegmentationLib.scene.sample_data import SAMPLE_FILE_NAME

    assert SAMPLE_FILE_NAME == file_name()
    for name in ("NegativeVolumeSegmentationLib.phantom",
                 "NegativeVolumeSegmentationLib.phantom.sample_ct"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails
    sample_data = SampleDataStandIn()
    monkeypatch.setitem(sys.modules, "SampleData", sample_data.module)
    module_file.registerSampleData()
    (source,) = sample_data.sources["Negative Volume Segmentation"]
    assert source.fileNames == [SAMPLE_FILE_NAME]
