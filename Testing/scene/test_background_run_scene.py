"""A background run's inputs and outputs in a real MRML scene (scene/background.py,
scene/results_writer.py): messages name the nodes, not the temporary files; a node name that
looks like an option is a name; segments edited while the child computes are not given the old
segments' numbers; a write that fails midway leaves no segmentation it made; a Slicer that dies
mid-run takes its child and temporary folder with it. The runs are real (measure existing
segments of analytic phantoms; no PyTorch needed)."""

import os
import signal
import subprocess
import sys
import time

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from panel_standins import nodes_of_class as _nodes  # noqa: E402
from panel_standins import phantom_nodes as _phantom_nodes  # noqa: E402
from process_state import dead  # noqa: E402


def test_report_messages_name_the_volume_not_the_temporary_file(scene):
    """A CT without air (raw values: no -1024 rescale) warns about its intensities; the warning
    names the CT volume node, nowhere the temporary copy the background child read."""
    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    phantom, _ct, segmentation = _phantom_nodes(scene, "CT", 3)
    raw = mrml_bridge.volume_node_from_image(sitk.Cast(phantom.ct, sitk.sitkInt16) + 1024,
                                             scene, "Raw head CT")
    run = BackgroundRun(raw, segmentation, segment=False).start()
    results = run.wait(timeout_s=120)
    texts = []

    def strings(value):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                strings(item)

    strings({key: value for key, value in results.items() if key != "nodes"})
    intensity = [text for text in texts if "intensities" in text]
    assert intensity and all(text.startswith("Raw head CT: ") for text in intensity), intensity
    assert not [text for text in texts if "nvseg-slicer-" in text or "ct.nrrd" in text]


def test_a_node_name_that_looks_like_an_option_is_a_name(scene):
    """The background child read its case name (the CT's name, or the segmentation's when its
    segments are measured) as `--case <name>`: a segmentation named "-joints" failed ("nvseg
    compute: argument --case: expected one argument")."""
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    phantom, _ct, segmentation = _phantom_nodes(scene, "CT", 3)
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, "-CT")
    segmentation.SetName("-joints")
    results = BackgroundRun(ct, segmentation, segment=False).start().wait(timeout_s=120)
    assert results["inputs"]["ct_volume"] == "-CT"
    assert results["inputs"]["segmentation"] == "-joints"
    for side in ("left", "right"):
        assert results[side]["negative_volume_mm3"] == pytest.approx(
            phantom.truth[side]["negative_volume_mm3"], rel=0.06)


def test_a_write_that_fails_midway_leaves_no_segmentation_it_made(scene, monkeypatch):
    """Closed surfaces failing (or anything after the segmentation was made) left an orphan
    "<CT> TMJ segmentation" in the scene, and the next Apply made a second one of that name."""
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    _phantom, ct, segmentation = _phantom_nodes(scene, "CT", 3)
    result = MeasurementLogic().compute(ct, segmentation, segment=False)
    before = sorted(n.GetName() for n in _nodes(scene, "vtkMRMLSegmentationNode"))

    def broken(*args, **kwargs):
        raise RuntimeError("surface smoothing failed")

    monkeypatch.setattr(mrml_bridge, "create_closed_surfaces", broken)
    from NegativeVolumeSegmentationLib.scene.results_writer import write_results
    from NegativeVolumeSegmentationLib.options import RunOptions

    count = scene.GetNumberOfNodes()
    with pytest.raises(RuntimeError, match="surface smoothing failed"):
        write_results(result, ct, None, RunOptions(segment=False))
    assert sorted(n.GetName() for n in _nodes(scene, "vtkMRMLSegmentationNode")) == before
    assert scene.GetNumberOfNodes() == count


@pytest.mark.parametrize("failing", ["segmentation_from_labels", "create_closed_surfaces"])
def test_a_write_that_fails_midway_gives_a_given_segmentation_its_segments_back(
        scene, monkeypatch, failing):
    """A re-run into a segmentation that holds an earlier run's results: writing removed the
    earlier NV segments first, and a failure after that (closed surfaces here) left the
    segmentation without them (or with half the new ones) beside a table showing the earlier
    numbers. Now it gets its segments back, each with its voxels (the new run's rays reach 2 mm,
    not 10: its NV segments would be smaller)."""
    import numpy as np

    from NegativeVolumeSegmentationLib.options import RunOptions
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic
    from NegativeVolumeSegmentationLib.scene.results_writer import write_results

    _phantom, ct, segmentation = _phantom_nodes(scene, "CT", 3)
    MeasurementLogic().process(ct, segmentation, segment=False)

    def segments():
        seg = segmentation.GetSegmentation()
        out = {}
        for index in range(seg.GetNumberOfSegments()):
            segment_id = seg.GetNthSegmentID(index)
            array = slicer_array(segment_id)
            out[seg.GetSegment(segment_id).GetName()] = int(np.count_nonzero(array))
        return out

    def slicer_array(segment_id):
        import slicer

        return slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, ct)

    before = segments()
    assert "Left negative volume" in before and before["Left negative volume"] > 0

    def broken(*args, **kwargs):
        raise RuntimeError("surface smoothing failed")

    result = MeasurementLogic().compute(ct, segmentation, segment=False, max_distance_mm=2.0)
    monkeypatch.setattr(mrml_bridge, failing, broken)
    with pytest.raises(RuntimeError, match="surface smoothing failed"):
        write_results(result, ct, segmentation, RunOptions(segment=False, max_distance_mm=2.0))
    assert segments() == before


def test_segments_edited_during_a_run_are_not_overwritten_with_old_numbers(scene):
    """Measuring given segments in the background: segments edited in the Segment Editor while
    the child computed got the numbers (and NV segments) of the segments as they were. Now
    nothing is written and the message says to Apply again; the edit stays."""
    import numpy as np

    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    import SimpleITK as sitk

    phantom, ct, segmentation = _phantom_nodes(scene, "CT", 3)
    run = BackgroundRun(ct, segmentation, segment=False).start()
    arr = sitk.GetArrayFromImage(phantom.labels)
    top = np.nonzero(arr == 1)[0].max()
    arr[(arr == 1) & (np.arange(arr.shape[0])[:, None, None] > top - 3)] = 0   # trims its top
    edited = sitk.GetImageFromArray(arr)
    edited.CopyInformation(phantom.labels)
    segmentation.GetSegmentation().RemoveSegment(
        mrml_bridge.find_segment_id(segmentation, "Left mandibular condyle"))
    mrml_bridge.segmentation_from_labels(edited, segmentation, [1])
    count = segmentation.GetSegmentation().GetNumberOfSegments()
    with pytest.raises(InputError, match="were edited during the run; nothing written"):
        run.wait(timeout_s=120)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == count == 4   # no NV written


SLICER_THAT_DIES = """
import os, signal, sys, types
sys.path.insert(0, sys.argv[2])
import slicer
from panel_standins import phantom_nodes
from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

scene = slicer.vtkMRMLScene()
colors = slicer.vtkSlicerColorLogic()
colors.SetMRMLScene(scene)
segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
segmentations.SetMRMLScene(scene)
slicer.mrmlScene = scene
slicer.modules = types.SimpleNamespace(segmentations=types.SimpleNamespace(
    logic=lambda: segmentations))
phantom, ct, segmentation = phantom_nodes(scene, "CT", 3)
run = BackgroundRun(ct, segmentation, segment=False, temp_root=sys.argv[1]).start()
with open(os.path.join(sys.argv[1], "child.pid"), "w") as handle:
    handle.write("%d %d %s" % (os.getpid(), run.process.pid, run.temp_dir))
os.kill(os.getpid(), signal.SIGKILL)   # Slicer crashes while its child computes
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_a_slicer_that_dies_mid_run_takes_its_child_and_temporary_folder_with_it(tmp_path):
    """Before: the child computed to its end and its folder (the CT exported into it) stayed."""
    script = tmp_path / "slicer_that_dies.py"
    script.write_text(SLICER_THAT_DIES)
    root = tmp_path / "temp"
    root.mkdir()
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, str(script), str(root), here], timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == -signal.SIGKILL
    _, child, temp_dir = (root / "child.pid").read_text().split(" ", 2)
    assert os.path.dirname(temp_dir) == str(root)
    deadline = time.monotonic() + 60
    while not dead(int(child)) or os.path.exists(temp_dir):
        assert time.monotonic() < deadline, "the child ran on, or its folder stayed"
        time.sleep(0.1)
    assert sorted(os.listdir(root)) == ["child.pid"]


def _under_a_grid_transform(scene, node):
    """Put ``node`` under a (zero) displacement-grid transform: non-linear for Slicer."""
    import vtk

    transform = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    grid = slicer.vtkOrientedGridTransform()
    image = vtk.vtkImageData()
    image.SetDimensions(5, 5, 5)
    image.SetOrigin(-100, -100, -100)
    image.SetSpacing(50, 50, 50)
    image.AllocateScalars(vtk.VTK_DOUBLE, 3)
    image.GetPointData().GetScalars().Fill(0.0)
    grid.SetDisplacementGridData(image)
    transform.SetAndObserveTransformFromParent(grid)
    node.SetAndObserveTransformNodeID(transform.GetID())


def _segment_names(segmentation):
    seg = segmentation.GetSegmentation()
    return sorted(seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments()))


def test_a_segmentation_under_a_non_linear_transform_is_refused_before_anything_runs(scene):
    """Segmenting into it ran the networks, then removed the user's segments and failed to
    write ("... under a non-linear transform"), leaving it empty; measuring it named the
    export's temporary node ('__nvseg_export__'). Now refused first, by its own name, for
    either route, and a write (the transform set while the run computed) removes nothing."""
    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.options import RunOptions
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic
    from NegativeVolumeSegmentationLib.scene.results_writer import write_results

    _phantom, ct, segmentation = _phantom_nodes(scene, "CT", 3)
    result = MeasurementLogic().compute(ct, segmentation, segment=False)
    names = _segment_names(segmentation)
    _under_a_grid_transform(scene, segmentation)
    logic = MeasurementLogic()
    logic.load_models = lambda *a, **k: pytest.fail("refused only after loading the networks")
    for segment in (True, False):
        with pytest.raises(InputError, match="'CT joints' is under a non-linear transform"):
            logic.process(ct, segmentation, segment=segment)
        with pytest.raises(InputError, match="'CT joints' is under a non-linear transform"):
            BackgroundRun(ct, segmentation, segment=segment).start()
    with pytest.raises(InputError, match="'CT joints' is under a non-linear transform"):
        write_results(result, ct, segmentation, RunOptions())
    assert _segment_names(segmentation) == names and len(names) == 4


def test_segments_drawn_on_the_other_side_are_named_by_the_side_they_lie_on(scene):
    """Condyle / temporal-bone segments named for the other side than they lie on (a user's
    slip): the engine measures them by where they lie (report.json
    ``inputs.label_sides_swapped``), and the given segments are renamed and recoloured to match,
    their voxels untouched (before: "Left mandibular condyle" stayed on the patient's right,
    beside "Right negative volume")."""
    import numpy as np
    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib import labels as L
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    phantom = make_phantom("analytic", seed=3, variant="sphere", condyle_radius_mm=6.5)
    truth = sitk.GetArrayFromImage(phantom.labels)
    drawn = truth.copy()
    for a, b in ((1, 2), (3, 4)):
        drawn[truth == a], drawn[truth == b] = b, a
    drawn_image = sitk.GetImageFromArray(drawn)
    drawn_image.CopyInformation(phantom.labels)
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    for run in ("in process", "in the background"):
        segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT joints")
        mrml_bridge.segmentation_from_labels(drawn_image, segmentation, [1, 2, 3, 4])
        if run == "in process":
            results = MeasurementLogic().process(ct, segmentation, segment=False)
        else:
            results = BackgroundRun(ct, segmentation, segment=False).start().wait(timeout_s=120)
        assert results["inputs"]["label_sides_swapped"] is True, run
        assert any("were swapped" in w for w in results["warnings"])
        for value in (1, 2, 3, 4):
            info = L.BY_VALUE[value]
            segment_id = mrml_bridge.find_segment_id(segmentation, info.name)
            voxels = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, ct)
            assert np.array_equal(voxels > 0, truth == value), (run, info.name)
            assert segmentation.GetSegmentation().GetSegment(segment_id).GetColor() == \
                pytest.approx(info.color)
        for side in L.SIDES:
            assert results[side]["negative_volume_mm3"] == pytest.approx(
                phantom.truth[side]["negative_volume_mm3"], rel=0.05)
