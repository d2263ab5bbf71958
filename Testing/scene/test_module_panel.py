"""The module file's panel on Qt stand-ins and a real MRML scene: its texts, Sample Data
registration, the Widget's setup, a background run, Cancel and errors."""

import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from panel_standins import (SampleDataStandIn, analytic_inputs,  # noqa: E402
                            tick_until_done)


def test_module_texts_at_runtime(module_file):
    parent = types.SimpleNamespace()
    module_file.NegativeVolumeSegmentation(parent)
    assert parent.title == "Negative Volume Segmentation"
    assert parent.categories == ["Segmentation"]
    assert "Belikova" in parent.acknowledgementText
    # the sample data is registered once Slicer has started, not while modules load
    assert slicer.app.connections == [("startupCompleted()", module_file.registerSampleData)]


def test_sample_data_generates_the_phantom_ct_locally(module_file, monkeypatch):
    """Registration against a Sample Data stand-in; its customDownloader (the button) writes the
    held-out head phantom into Slicer's cache as NRRD with the phantom's truth beside it and
    loads it; the file has the phantom's geometry, voxels and truth, and is reused."""
    import json
    import os
    import sys

    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.phantom import make_phantom

    sample_data = SampleDataStandIn()
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


def test_apply_waits_for_what_the_chosen_route_needs(widget, scene):
    """Segmenting needs the CT; measuring existing segments needs the segmentation (the CT is
    then optional); the tooltip says what is missing, or what Apply will do."""
    ui, parameters = widget.ui, widget._parameterNode
    parameters.measureExisting = True
    widget._checkCanApply()
    assert not ui.applyButton.enabled and "segmentation" in ui.applyButton.toolTip
    parameters.outputSegmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    widget._checkCanApply()
    assert ui.applyButton.enabled and ui.applyButton.toolTip.startswith("Measure")
    parameters.measureExisting = False
    widget._checkCanApply()
    assert not ui.applyButton.enabled and ui.applyButton.toolTip == "Select the head CT"


def test_widget_background_run_fills_results(module_file, widget, scene):
    """Apply (measure existing segments) runs in the background; the timer follows it; the
    numbers reach the panel and the table; the buttons come back."""
    phantom = analytic_inputs(scene, widget)
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
    tick_until_done(widget)
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
    note = table.GetColumnByName("Note")   # the table says it too, at the panel's threshold
    assert note.GetValue(0) == "asymmetric: above %g %%" % parameters.asymmetryThreshold
    parameters.asymmetryThreshold = truth_asymmetry + 5.0
    widget._checkCanApply()  # what the parameter node's Modified event calls
    assert not widget.ui.asymmetryFlagLabel.visible
    assert parameters.resultsTable.GetTable().GetColumnByName("Note").GetValue(0) == ""
    assert widget.ui.statusLabel.text.startswith("Done in")
    assert widget.ui.progressBar.values[-1] == 100 and not widget.ui.progressBar.visible
    assert widget.ui.applyButton.enabled and not widget.ui.cancelButton.enabled
    assert shown == [parameters.inputVolume]
    assert scene.GetNodeByID(parameters.outputSegmentation.GetID()) is not None


def test_widget_cancel_leaves_scene_untouched(module_file, widget, scene):
    import os

    analytic_inputs(scene, widget)
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
    analytic_inputs(scene, widget, with_segments=False)
    nodes = scene.GetNumberOfNodes()
    widget.onApplyButton()
    assert widget._run is None
    assert len(module_file.errors_shown) == 1
    message = module_file.errors_shown[0].split("\n", 1)[1]
    assert "needs a condyle and a temporal bone segment" in message and "\n" not in message
    assert widget.ui.statusLabel.text.startswith("Failed: ")
    assert widget.ui.applyButton.enabled and not widget.ui.cancelButton.enabled
    assert not widget.ui.progressBar.visible and scene.GetNumberOfNodes() == nodes
