"""Shared fixtures. Real data is read from ../shared/data/real beside the checkout, never copied."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_REAL = os.environ.get(
    "NVSEG_SHARED_REAL", os.path.join(os.path.dirname(REPO), "shared", "data", "real"))


@pytest.fixture(scope="session")
def real_head_ct_path():
    """Path of the real head CT (Visible Human Female), or skip when ../shared is absent."""
    path = os.path.join(SHARED_REAL, "vhf_head.nii.gz")
    if not os.path.exists(path):
        pytest.skip("real head CT not found at %s (the ../shared folder is absent)" % path)
    return path


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
