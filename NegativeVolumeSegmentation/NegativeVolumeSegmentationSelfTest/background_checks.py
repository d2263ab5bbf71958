"""Checks of the background run that segments (needs torch and the bundled models): the same
numbers and voxels as in process, Cancel, and bad input that must end as one line and change
nothing. The background run starts ``python -m NegativeVolumeSegmentationLib.cli``
(PythonSlicer inside Slicer).
"""

import os
import time

import numpy as np
import slicer

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.scene import mrml_bridge

from .common import _check, _node_count, _same_numbers, _segment_counts
from .pipeline_checks import check_logic_on_head_phantom, head_phantom

def check_background_matches_in_process(scene, reference=None, python_executable=None,
                                        model_dir=None):
    """The background run (a separate ``python -m NegativeVolumeSegmentationLib.cli run`` on a
    temporary copy of the same CT node) writing into the in-process run's segmentation gives the
    same numbers and the same segment voxels, replaces (no node added) and leaves no temporary
    folder. ``reference``: results of check_logic_on_head_phantom in this scene (run if None).
    """
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    if reference is None:
        reference = check_logic_on_head_phantom(scene, model_dir)
    ct_node = scene.GetNodeByID(reference["checks"]["ct_node"])
    segmentation_node = scene.GetNodeByID(reference["nodes"]["segmentation"])
    expected_counts = _segment_counts(segmentation_node)
    nodes_before = _node_count(scene)
    start = time.perf_counter()
    run = BackgroundRun(ct_node, segmentation_node, python_executable=python_executable,
                        model_dir=model_dir).start()
    temp_dir = run.temp_dir
    fractions = []
    while run.poll() == "running":
        if not fractions or fractions[-1] != run.fraction:
            fractions.append(run.fraction)
        time.sleep(0.1)
    _check(run.state == "completed", "background run %s: %s" % (run.state, run.error))
    results = run.finish()
    seconds = time.perf_counter() - start
    _check(not os.path.exists(temp_dir), "temporary folder %s left behind" % temp_dir)
    _check(fractions == sorted(fractions) and len(fractions) >= 3,
           "progress fractions %s (expected at least 3, never going back)" % fractions)
    _same_numbers(results, reference, "background vs in-process")
    _check(_segment_counts(segmentation_node) == expected_counts,
           "segment voxels: background %s, in-process %s"
           % (_segment_counts(segmentation_node), expected_counts))
    _check(_node_count(scene) == nodes_before, "the background re-run added %d nodes"
           % (_node_count(scene) - nodes_before))
    results["checks"] = {"seconds": seconds, "progress": fractions}
    return results


def check_background_cancel(scene, python_executable=None, model_dir=None):
    """Cancel during segmentation: the process tree is gone, the temporary folder is removed
    and the scene gets no node. Returns the seconds the cancel took (reported, not asserted)."""
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    ct_node = mrml_bridge.volume_node_from_image(head_phantom().ct, scene, "Head CT")
    nodes_before = _node_count(scene)
    run = BackgroundRun(ct_node, None, python_executable=python_executable,
                        model_dir=model_dir).start()
    temp_dir = run.temp_dir
    deadline = time.perf_counter() + 120.0
    while run.poll() == "running" and run.stage not in ("segment", "postprocess", "geometry"):
        _check(time.perf_counter() < deadline, "the run never reached the segmentation stage")
        time.sleep(0.05)
    _check(run.state == "running", "the run ended before it could be cancelled: %s %s"
           % (run.state, run.error))
    stage = run.stage
    seconds = run.cancel()
    _check(run.process.poll() is not None, "the process still runs after cancel")
    _check(run.state == "cancelled" and run.poll() == "cancelled", "state %s" % run.state)
    _check(not os.path.exists(temp_dir), "temporary folder %s left behind" % temp_dir)
    _check(_node_count(scene) == nodes_before, "cancel added %d nodes"
           % (_node_count(scene) - nodes_before))
    try:
        run.finish()
    except InputError:
        pass
    else:
        raise AssertionError("a cancelled run loaded results")
    return {"seconds": seconds, "stage": stage}


def _one_line_error(function, what):
    try:
        function()
    except InputError as error:
        message = str(error)
    else:
        raise AssertionError("%s: no error" % what)
    _check(message and "\n" not in message and len(message) < 400,
           "%s: not a one-line message: %r" % (what, message))
    return message


def check_bad_input_changes_nothing(scene, python_executable=None, model_dir=None):
    """Bad input ends with a one-line error, no new node and no temporary folder, in process
    and in the background: a single-slice (2D) volume, a 3D volume with no head in it (the
    background process itself fails), measuring a segmentation without the segments."""
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    logic = MeasurementLogic()
    flat = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "single slice")
    slicer.util.updateVolumeFromArray(flat, np.full((1, 64, 64), 40, np.int16))
    air = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "air")
    slicer.util.updateVolumeFromArray(air, np.full((40, 40, 40), -1000, np.int16))
    empty = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "no segments")
    nodes_before = _node_count(scene)
    messages = {}

    messages["2D in process"] = _one_line_error(lambda: logic.process(flat), "2D in process")
    run = BackgroundRun(flat, None, python_executable=python_executable, model_dir=model_dir)
    messages["2D background"] = _one_line_error(run.start, "2D background")
    _check(run.state == "failed" and run.process is None and run.temp_dir is None,
           "2D background: state %s, process %s" % (run.state, run.process))
    for key in ("2D in process", "2D background"):
        _check("single slice" in messages[key], "%s: %r" % (key, messages[key]))

    run = BackgroundRun(air, None, python_executable=python_executable, model_dir=model_dir)
    run.start()
    temp_dir = run.temp_dir
    messages["no head background"] = _one_line_error(lambda: run.wait(timeout_s=300),
                                                     "no head background")
    _check("no head" in messages["no head background"], messages["no head background"])
    _check(run.state == "failed" and not os.path.exists(temp_dir),
           "no head: state %s, temporary folder left: %s" % (run.state, os.path.exists(temp_dir)))
    _check(np.all(slicer.util.arrayFromVolume(air) == -1000), "the input volume was modified")

    messages["no segments"] = _one_line_error(
        lambda: logic.process(air, empty, segment=False), "no segments")
    run = BackgroundRun(air, empty, python_executable=python_executable, segment=False)
    messages["no segments background"] = _one_line_error(run.start, "no segments background")
    _check(empty.GetSegmentation().GetNumberOfSegments() == 0, "segments were added")
    _check(_node_count(scene) == nodes_before, "bad input added %d nodes"
           % (_node_count(scene) - nodes_before))
    return messages
