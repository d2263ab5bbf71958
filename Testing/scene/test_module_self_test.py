"""The module's Logic wrapper and its self-test (NegativeVolumeSegmentationTest) on a real MRML
scene, with and without PyTorch."""

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest  # noqa: E402


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
