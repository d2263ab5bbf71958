"""Shared fixtures. Real data is read from ../shared/data/real beside the checkout, never copied."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_REAL = os.environ.get(
    "NVSEG_SHARED_REAL", os.path.join(os.path.dirname(REPO), "shared", "data", "real"))


def load_repo_script(relative_path):
    """A script of the repository (benchmarks/, docs/scripts/, scripts/) imported as a module."""
    import importlib.util

    name = os.path.splitext(os.path.basename(relative_path))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def invariance_benchmark():
    """benchmarks/real_ct_invariance.py as a module: its variant builder and pipeline runner."""
    return load_repo_script(os.path.join("benchmarks", "real_ct_invariance.py"))


@pytest.fixture(scope="session")
def probes_benchmark():
    """benchmarks/real_ct_probes.py as a module: its builders of the real head's probes."""
    return load_repo_script(os.path.join("benchmarks", "real_ct_probes.py"))


@pytest.fixture(scope="session")
def open_mouth_benchmark():
    """benchmarks/open_mouth.py as a module: a label map's condyles moved as a mouth opens."""
    return load_repo_script(os.path.join("benchmarks", "open_mouth.py"))


@pytest.fixture(scope="session")
def dicom_studies_benchmark():
    """benchmarks/dicom_studies.py as a module: the DICOM layouts users bring, written."""
    return load_repo_script(os.path.join("benchmarks", "dicom_studies.py"))


@pytest.fixture(scope="session")
def real_head_ct_path():
    """Path of the real head CT (Visible Human Female), or skip when ../shared is absent."""
    path = os.path.join(SHARED_REAL, "vhf_head.nii.gz")
    if not os.path.exists(path):
        pytest.skip("real head CT not found at %s (the ../shared folder is absent)" % path)
    return path


@pytest.fixture(scope="session")
def real_anatomy():
    """(docs/scripts/real_anatomy_nv.py as a module, its MC/TB label map of the dental CBCT label
    map in ../shared), built once per test session; skip when ../shared is absent. Tests must not
    modify the label map."""
    import SimpleITK as sitk

    path = os.path.join(SHARED_REAL, "dental_cbct_labels.nii.gz")
    if not os.path.exists(path):
        pytest.skip("real anatomy label map not found at %s (the ../shared folder is absent)"
                    % path)
    script = load_repo_script(os.path.join("docs", "scripts", "real_anatomy_nv.py"))
    labels, _ = script.build_labels(sitk.ReadImage(path))
    return script, labels


@pytest.fixture(scope="session")
def cbct_joint_phantom():
    """``get(seed)`` -> (side, Phantom): the head phantom of ``seed`` cropped like a CBCT of one
    joint (0.5 mm, mouth closed; the left joint for even seeds, the right for odd), truth
    integrated on a 0.4 mm grid. Each is made once per test session (~8 s) and shared by the
    engine's tests against phantom truth; tests must not modify it."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    made = {}

    def get(seed):
        if seed not in made:
            side = "left" if seed % 2 == 0 else "right"
            made[seed] = side, make_phantom("head", seed=seed, fov="cbct-" + side,
                                            mouth="closed", spacing=(0.5,) * 3, nv_step_mm=0.4)
        return made[seed]

    return get


@pytest.fixture
def scene():
    """A fresh slicer-core MRML scene set up as Slicer's startup does: colours, segmentations
    logic (attached before any segmentation node, or closed surfaces stay empty),
    ``slicer.mrmlScene`` and ``slicer.modules.segmentations.logic()``."""
    import types

    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkSlicerColorLogic()
    colors.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    saved = {name: getattr(slicer, name, None) for name in ("mrmlScene", "modules")}
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations))
    yield scene
    for name, value in saved.items():
        if value is None:
            delattr(slicer, name)
        else:
            setattr(slicer, name, value)
    segmentations.SetMRMLScene(None)
    colors.SetMRMLScene(None)
    scene.Clear(1)
