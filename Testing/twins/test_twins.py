"""The Slicer routes run in "Slicer twins": clean environments holding only what 3D Slicer ships.

Built by ``bash scripts/slicer_twins.sh`` (``scripts/test.sh`` builds them before pytest):

- ``.envs/slicer-5.8``: Python 3.9, numpy 1.26.4, scipy 1.13.1, vtk 9.2.6, SimpleITK 2.3.1 and
  Slicer 5.8's pure packages; no slicer-core (it needs Python >= 3.10), no torch, no tqdm,
  matplotlib, pynrrd, slicerio or pyyaml.
- ``.envs/slicer-5.10``: Python 3.11, numpy 2.0.2, scipy 1.13.1, SimpleITK 2.5.2, slicer-core
  (with the vtk it pins), torch 2.13.0 (CPU); nothing else.

The library is not installed there: the twins run it from the checkout (PYTHONPATH), as Slicer
runs it from the extension's folder. Each twin's results are compared with the main
environment's (this pytest's Python) on the same input: NV within 0.5 %, minimum joint space
within 0.05 mm, both sides measured.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_PARENT = os.path.join(REPO, "NegativeVolumeSegmentation")
PACKAGE = "NegativeVolumeSegmentationLib"
TWINS = os.path.join(REPO, ".envs")
NV_RTOL = 0.005          # 0.5 %
JOINT_SPACE_ATOL = 0.05  # mm
SIDES = ("left", "right")


def twin_python(name):
    python = os.path.join(TWINS, name, "bin", "python")
    if not (os.path.isfile(python) and os.path.isfile(os.path.join(TWINS, name, ".twin-spec"))):
        pytest.skip("Slicer twin %s is absent (%s): build it with `bash scripts/slicer_twins.sh`"
                    % (name, os.path.dirname(os.path.dirname(python))))
    return python


def run_python(python, code, *args, timeout=900):
    """Run ``code`` in ``python`` with the checkout's library on PYTHONPATH; returns the last
    stdout line parsed as JSON."""
    env = dict(os.environ)
    env["PYTHONPATH"] = LIB_PARENT
    env.pop("NVSEG_DEBUG", None)
    env.pop("PYTHONHOME", None)
    out = subprocess.run([python, "-c", textwrap.dedent(code)] + [str(a) for a in args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         env=env, cwd=REPO, timeout=timeout)
    assert out.returncode == 0, "%s failed (%d):\n%s\n%s" % (python, out.returncode,
                                                           out.stdout[-3000:], out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def numbers(report):
    """{side: (NV mm3, minimum joint space mm)} of a report.json-like dict (None: not measured)."""
    found = {}
    for side in SIDES:
        values = report.get(side)
        found[side] = None if values is None else (values["negative_volume_mm3"],
                                                   values["joint_space_min_mm"])
    return found


def assert_close_to_main(measured, main, what):
    lines = []
    for side in SIDES:
        assert main[side] is not None, "main environment did not measure the %s side" % side
        assert measured[side] is not None, "%s did not measure the %s side" % (what, side)
        (nv, gap), (nv_main, gap_main) = measured[side], main[side]
        lines.append("%s %-5s NV %.1f vs main %.1f mm3 (%+.2f %%), min joint space %.3f vs %.3f mm"
                     % (what, side, nv, nv_main, 100.0 * (nv - nv_main) / nv_main, gap, gap_main))
    print("\n".join(lines))
    for side in SIDES:
        (nv, gap), (nv_main, gap_main) = measured[side], main[side]
        assert abs(nv - nv_main) <= NV_RTOL * abs(nv_main), lines
        assert abs(gap - gap_main) <= JOINT_SPACE_ATOL, lines


# The modules on the Slicer routes (as Testing/scene/test_slicer_packages.py checks statically).
ROUTE_MODULES = [PACKAGE + "." + name for name in (
    "labels", "errors", "options", "pipeline", "report.report_json", "report.cohort_csv", "cli",
    "cli.run", "cli.case_outputs", "cli.negative_volume")] + ["%s.%s.%s" % (PACKAGE, folder, f[:-3])
                               for folder in ("scene", "inference", "engine", "io")
                               for f in sorted(os.listdir(os.path.join(LIB_PARENT, PACKAGE, folder)))
                               if f.endswith(".py") and f != "__init__.py"]
ROUTE_MODULES = [m for m in ROUTE_MODULES
                 if os.path.isfile(os.path.join(LIB_PARENT, *m.split(".")) + ".py")
                 or os.path.isfile(os.path.join(LIB_PARENT, *(m.split(".") + ["__init__.py"])))]

IMPORT_ALL = """
    import importlib, json, sys
    done, missing = [], {}
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
            done.append(name)
        except ImportError as error:
            missing[name] = getattr(error, "name", None) or str(error)
    print(json.dumps({"imported": done, "missing": missing,
                      "foreign": sorted(m for m in ("tqdm", "matplotlib", "nrrd", "slicerio",
                                                    "yaml") if m in sys.modules)}))
"""


# ------------------------------------------------------------------ twin (a): Slicer 5.8
def test_slicer58_route_modules_import():
    """Every Slicer-route module imports in Slicer 5.8's package set; the only modules allowed
    to be missing are the application's own (slicer-core needs Python >= 3.10) and torch (that
    Slicer installs on request)."""
    python = twin_python("slicer-5.8")
    result = run_python(python, IMPORT_ALL, *ROUTE_MODULES)
    absent_by_design = {"slicer", "qt", "ctk", "torch"}
    unexpected = dict((m, n) for m, n in result["missing"].items()
                      if n.split(".")[0] not in absent_by_design)
    assert not unexpected, "modules that need packages Slicer 5.8 lacks: %s" % unexpected
    assert not result["foreign"], result["foreign"]
    for name in ("cli", "cli.negative_volume", "engine.measure", "engine.inflate",
                 "io.segmentation_files", "io.ct", "report.report_json"):
        assert "%s.%s" % (PACKAGE, name) in result["imported"], (name, result["missing"])
    print("imported %d, missing by design: %s" % (len(result["imported"]), result["missing"]))


@pytest.fixture(scope="session")
def demo_phantom(tmp_path_factory):
    """``nvseg phantom OUT --seed 100010 --kind head --fov head`` made with the main env."""
    out = tmp_path_factory.mktemp("twin_phantom")
    run = subprocess.run([sys.executable, "-m", PACKAGE + ".cli", "phantom", str(out), "--seed",
                          "100010", "--kind", "head", "--fov", "head"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert run.returncode == 0, run.stderr
    return out


NEGATIVE_VOLUME = """
    import json, subprocess, sys
    labels, out = sys.argv[1], sys.argv[2]
    run = subprocess.run([sys.executable, "-m", "NegativeVolumeSegmentationLib.cli",
                          "negative-volume", labels, "-o", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if run.returncode != 0:
        sys.exit("negative-volume failed (%d): %s" % (run.returncode, run.stderr[-2000:]))
    with open(out + "/report.json") as handle:
        print(json.dumps(json.load(handle)))
"""


def test_slicer58_negative_volume_matches_main(demo_phantom, tmp_path):
    """``python -m NegativeVolumeSegmentationLib.cli negative-volume`` on the phantom's true
    labels: Slicer 5.8's packages (vtk 9.2.6) measure what the main environment measures."""
    python = twin_python("slicer-5.8")
    labels = str(demo_phantom / "labels.nii.gz")
    main = run_python(sys.executable, NEGATIVE_VOLUME, labels, tmp_path / "main")
    twin = run_python(python, NEGATIVE_VOLUME, labels, tmp_path / "twin")
    assert_close_to_main(numbers(twin), numbers(main), "slicer-5.8")


# ------------------------------------------------------------------ twin (b): Slicer 5.10
@pytest.fixture(scope="session")
def selftest_ct(tmp_path_factory):
    """The held-out head phantom of the module's self-test (seed 100010, 0.65 x 0.65 x 1.25 mm),
    its CT written once, plus the main environment's pipeline.run_case on it."""
    sys.path.insert(0, LIB_PARENT)
    from NegativeVolumeSegmentationSelfTest import checks

    folder = tmp_path_factory.mktemp("twin_selftest_ct")
    path = str(folder / "ct.nii.gz")
    import SimpleITK as sitk
    sitk.WriteImage(checks.head_phantom().ct, path, True)
    return path


MAIN_RUN_CASE = """
    import inspect, json, sys
    from NegativeVolumeSegmentationLib import pipeline
    from NegativeVolumeSegmentationLib.inference.models import load_models
    models = load_models(device="cpu")
    if "device" in inspect.signature(pipeline.run_case).parameters:
        result = pipeline.run_case(sys.argv[1], models, device="cpu")
    else:  # the older signature (path, models, choice, max_distance, enhance_tb)
        from NegativeVolumeSegmentationLib.engine.inflate import DEFAULT_MAX_DISTANCE_MM
        from NegativeVolumeSegmentationLib.inference.device import choose_device
        result = pipeline.run_case(sys.argv[1], models, choose_device("cpu"),
                                   DEFAULT_MAX_DISTANCE_MM, False)
    print(json.dumps(result.report, default=str))
"""

SLICER_ROUTES = """
    import json, sys, types
    import SimpleITK as sitk
    import slicer

    # a scene set up as Slicer's startup does (Testing/conftest.py `scene`)
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkSlicerColorLogic()
    colors.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations))

    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic
    from NegativeVolumeSegmentationLib.scene.background import BackgroundRun

    ct = mrml_bridge.volume_node_from_image(sitk.ReadImage(sys.argv[1]), scene, name="ct")
    keys = ("negative_volume_mm3", "joint_space_min_mm", "condyle_volume_mm3",
            "joint_space_mean_mm")

    def pick(results):
        return dict((side, None if results.get(side) is None
                     else dict((k, results[side][k]) for k in keys)) for side in ("left", "right"))

    apply = MeasurementLogic().process(ct, None, device="cpu")            # the panel's route
    run = BackgroundRun(ct, None, python_executable=sys.executable, device="cpu")
    run.start()
    console = run.wait()                                                    # the console's route
    print(json.dumps({"apply": pick(apply), "background": pick(console),
                      "foreign": sorted(m for m in ("tqdm", "matplotlib", "nrrd", "slicerio",
                                                    "yaml") if m in sys.modules)}))
"""


@pytest.mark.slow
def test_slicer510_apply_and_background_routes(selftest_ct):
    """Slicer 5.10's packages + slicer-core: the in-process Logic (Apply) and the background run
    (``BackgroundRun`` with the twin's python as PythonSlicer) on the self-test's head phantom
    measure both sides, agree with each other, and agree with the main environment's
    pipeline.run_case on the same CT."""
    python = twin_python("slicer-5.10")
    twin = run_python(python, SLICER_ROUTES, selftest_ct)
    main = run_python(sys.executable, MAIN_RUN_CASE, selftest_ct)
    assert not twin["foreign"], twin["foreign"]
    apply, background = numbers(twin["apply"]), numbers(twin["background"])
    print("apply %s\nbackground %s" % (twin["apply"], twin["background"]))
    for side in SIDES:
        assert apply[side] is not None and background[side] is not None, twin
        for key in twin["apply"][side]:
            a, b = twin["apply"][side][key], twin["background"][side][key]
            assert (a is None) == (b is None) and (a is None or abs(a - b) <= 1e-6 * max(1.0, abs(b))), \
                "%s %s: Apply %s, background %s" % (side, key, a, b)
    assert_close_to_main(apply, numbers(main), "slicer-5.10 Apply")
    assert_close_to_main(background, numbers(main), "slicer-5.10 background")
