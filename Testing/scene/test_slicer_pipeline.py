"""The module's whole run from MRML nodes (slicer-core + torch + the bundled models): the
in-process Logic and the background run on a held-out head phantom against its truth.json,
Cancel, bad input; plus the Qt-free helpers of the panel (options, progress, results summary,
device probe, report merging).

The scene checks live in NegativeVolumeSegmentationSelfTest.checks (PIPELINE_CHECKS) so that
the module's NegativeVolumeSegmentationTest runs the identical checks inside 3D Slicer. The
phantom (seed 100010, never used in training) is generated once per session (~15 s); each
pipeline run takes ~5-15 s on two CPU cores.
"""

import os
import sys
import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationLib.scene import torch_probe as device_probe, logic as slicer_logic
from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest  # noqa: E402
from NegativeVolumeSegmentationLib.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def bundled_models():
    """Skip the whole-pipeline tests when torch or the bundled models are missing."""
    pytest.importorskip("torch", reason="torch is not installed")
    from NegativeVolumeSegmentationLib import pipeline
    from NegativeVolumeSegmentationLib.inference import models as bundled_models

    try:
        bundled_models.load_models(device="cpu")
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)


@pytest.mark.slow
def test_head_phantom_in_process_then_background(scene, bundled_models):
    """In process: six segments, NV within 10 % of truth on a reflected, axis-swapped CT grid,
    surfaces, table, thickness models with legends. Then the background run into the same
    segmentation: identical numbers and voxels, nothing added, no temporary folder."""
    results = slicer_selftest.check_logic_on_head_phantom(scene)
    truth = slicer_selftest.head_phantom().truth
    for side in ("left", "right"):
        print("%s NV %.1f mm3 (truth %.1f, %+.1f %%), condyle centre off by %.2f mm"
              % (side, results[side]["negative_volume_mm3"], truth[side]["negative_volume_mm3"],
                 results["checks"]["errors"][side]["nv_error_percent"],
                 results["checks"]["errors"][side]["centre_error_mm"]))
    print("in-process timings", results["timings_s"])
    background = slicer_selftest.check_background_matches_in_process(scene, reference=results)
    print("background %.1f s, progress %s" % (background["checks"]["seconds"],
                                              background["checks"]["progress"]))
    # the comparison can fail: swapped sides are caught
    swapped = dict(background, left=background["right"], right=background["left"])
    with pytest.raises(AssertionError):
        slicer_selftest._same_numbers(swapped, results, "swapped")


@pytest.mark.slow
def test_background_cancel(scene, bundled_models):
    cancelled = slicer_selftest.check_background_cancel(scene)
    print("cancelled during %s in %.3f s" % (cancelled["stage"], cancelled["seconds"]))


def test_bad_input_changes_nothing(scene, bundled_models):
    messages = slicer_selftest.check_bad_input_changes_nothing(scene)
    for key, message in messages.items():
        print("%s: %s" % (key, message))
    assert "air" in messages["no head background"]  # the node's name, not the temporary file
    assert "nvseg-slicer-" not in messages["no head background"]


# ----------------------------------------------------------------------------- Qt-free helpers
def test_progress_stages_only_go_forward():
    import NegativeVolumeSegmentationLib.pipeline as pipeline
    from NegativeVolumeSegmentationLib.scene.progress import stage_progress

    order = ("start",) + pipeline.STAGES + ("write", "load", "done")
    fractions = [stage_progress(stage, True)[0] for stage in order]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    measure = [stage_progress(s, False)[0]
               for s in ("start",) + pipeline.MEASURE_STAGES + ("write", "load", "done")]
    assert measure == sorted(measure)
    assert stage_progress("something new", True) == (None, "something new")


def _report(nv_left, nv_right, warnings=(), mode="confined"):
    side = lambda nv: {"negative_volume_mm3": nv, "condyle_volume_mm3": 1000.0,
                       "joint_space_min_mm": 1.0, "joint_space_mean_mm": 2.0,
                       "condyle_center_lps_mm": [0.0, 0.0, 0.0]}
    from NegativeVolumeSegmentationLib.report.report_json import build_report

    return build_report({"left": side(nv_left), "right": side(nv_right)}, list(warnings),
                        {"total": 2.0}, device="cuda",
                        extra={"parameters": {"mode": mode, "max_distance_mm": 10.0}})


def test_results_summary_flags_asymmetry_above_the_threshold():
    results = _report(100.0, 300.0)  # NV asymmetry 100 |100 - 300| / 400 = 50 %
    summary = slicer_logic.results_summary(results, 49.0)
    assert summary["asymmetric"] and "negative volume above 49 %" in summary["flag"]
    assert summary["left_nv"] == "100.0 mm³" and summary["right_nv"] == "300.0 mm³"
    assert summary["asymmetry"] == "NV 50.0 %, condyle 0.0 %"
    assert summary["left_space"] == "min 1.00 mm (mean 2.00 mm)"
    assert summary["status"] == "Done in 2.0 s."
    calm = slicer_logic.results_summary(results, 51.0)
    assert not calm["asymmetric"] and calm["flag"] == ""
    # judged as shown: 100 |L - R| / (L + R) = 6.04 % reads "6.0 %", not above 6 %
    near = _report(1000.0, 1128.5)
    shown = slicer_logic.results_summary(near, 6.0)
    assert shown["asymmetry"].startswith("NV 6.0 %") and not shown["asymmetric"]
    results["right"] = None
    results["asymmetry_percent"] = {"negative_volume": None, "condyle_volume": None}
    one_side = slicer_logic.results_summary(results, 6.0)
    assert one_side["right_nv"] == "not measured" and one_side["asymmetry"] == "–"
    assert not one_side["asymmetric"]
    assert slicer_logic.results_summary(None)["left_nv"] == "–"


def test_an_open_mouth_leaves_the_nv_asymmetry_unflagged():
    """A condyle on its eminence (joint_bounds.on_eminence): the two NVs differ by how far each
    condyle glided, so their asymmetry is shown, not flagged; the condyles' (bone) still is."""
    results = _report(100.0, 300.0)
    results["asymmetry_percent"]["condyle_volume"] = 20.0
    results["left"]["joint_bounds"] = {"on_eminence": True, "head_behind_eminence_mm": 1.0}
    summary = slicer_logic.results_summary(results, 6.0)
    assert summary["asymmetric"] and summary["flag"] == "Asymmetric: condyle volume above 6 %"
    assert summary["asymmetry"] == ("NV 50.0 %, condyle 20.0 % (NV not flagged: a condyle not "
                                    "seated, mouth open?)")
    results["asymmetry_percent"]["condyle_volume"] = 1.0
    assert not slicer_logic.results_summary(results, 6.0)["asymmetric"]


def test_device_probe_reads_torch_without_importing_it(tmp_path, monkeypatch):
    """A fake torch package whose import would fail: the probe reads its version.py only."""
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('torch must not be imported')\n")
    (package / "version.py").write_text(
        "from typing import Optional\n__version__ = '9.9.0+cu999'\ndebug = False\n"
        "cuda: Optional[str] = '99.9'\ngit_version = 'x'\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    installed, version, cuda = device_probe.torch_package()
    assert (installed, version, cuda) == (True, "9.9.0+cu999", "99.9")
    assert "torch" not in sys.modules
    gpu = device_probe.Probe(True, version, cuda, nvidia=True)
    assert gpu.auto == "cuda" and "GPU" in gpu.text and "99.9" in gpu.text
    cpu_build = device_probe.Probe(True, "2.0.0+cpu", None, nvidia=True)
    assert cpu_build.auto == "cpu" and "CPU build" in cpu_build.text
    missing = device_probe.Probe(False, None, None, nvidia=False)
    assert missing.auto == "cpu" and "not installed" in missing.text


def test_module_file_imports_no_torch():
    """Importing the Lib modules the panel imports at setup does not import torch."""
    import subprocess

    code = ("import sys; from NegativeVolumeSegmentationLib.scene import logic, background, "
            "torch_probe; torch_probe.probe(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_python_executable_for_the_background_run(monkeypatch, tmp_path):
    """Inside Slicer PythonSlicer (never the Slicer application); elsewhere sys.executable."""
    from NegativeVolumeSegmentationLib.scene import background

    assert background.default_python_executable() == sys.executable
    (tmp_path / "slicer-bin").mkdir()
    (tmp_path / "app-bin").mkdir()
    fake = tmp_path / "slicer-bin" / "PythonSlicer"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(), raising=False)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ.get("PATH", ""))
    assert background.default_python_executable() == str(fake)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app-bin" / "SlicerApp-real"))
    with pytest.raises(InputError, match="PythonSlicer"):
        background.default_python_executable()
