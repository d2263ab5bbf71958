"""MRML bridge on real MRML scenes (slicer-core): geometry, segments, sides, tables, models.

The checks themselves live in NegativeVolumeSegmentationLib.slicer_selftest so that the module's
NegativeVolumeSegmentationTest runs the identical checks inside 3D Slicer.
"""

import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationLib import slicer_selftest  # noqa: E402


@pytest.fixture
def scene():
    """A fresh MRML scene set up as Slicer's startup does: colours, segmentations logic,
    ``slicer.mrmlScene`` and ``slicer.modules.<name>.logic()``."""
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkSlicerColorLogic()
    colors.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)  # before any segmentation node, or surfaces stay empty
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


def test_volume_geometry_roundtrip(scene):
    slicer_selftest.check_volume_geometry_roundtrip(scene)


def test_label_map_to_six_segments(scene):
    slicer_selftest.check_label_segments(scene)


def test_left_stays_left_on_flipped_rotated_grid(scene):
    slicer_selftest.check_left_stays_left(scene)


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
