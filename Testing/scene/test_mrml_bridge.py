"""MRML bridge on real MRML scenes (slicer-core): geometry, segments, sides, tables, models, the
measure-existing-segments path (in process and in the background). The module file's panel,
its PyTorch install and its self-test are driven through minimal Qt stand-ins
(panel_standins.py) in test_module_panel.py, test_module_torch_install.py and
test_module_self_test.py.

The checks themselves live in NegativeVolumeSegmentationSelfTest.checks so that the module's
NegativeVolumeSegmentationTest runs the identical checks inside 3D Slicer. The whole-pipeline
checks are in test_slicer_pipeline.py.
"""

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest  # noqa: E402


def test_volume_geometry_roundtrip(scene):
    slicer_selftest.check_volume_geometry_roundtrip(scene)


def test_label_map_to_six_segments(scene):
    slicer_selftest.check_label_segments(scene)


def test_left_stays_left_on_flipped_rotated_grid(scene):
    slicer_selftest.check_left_stays_left(scene)


def test_transformed_segmentation_and_ct_keep_world_positions(scene):
    slicer_selftest.check_transformed_nodes(scene)


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


def test_existing_segments_are_measured_on_their_own_grid(scene):
    results = slicer_selftest.check_existing_segments_on_their_own_grid(scene)
    print({side: results[side]["negative_volume_mm3"] for side in ("left", "right")})


def test_show_results_points_slice_views_at_the_joint(scene):
    slicer_selftest.check_show_results(scene)


def test_background_measure_existing_matches_in_process(scene):
    results = slicer_selftest.check_background_measure_existing(scene)
    print("paper-mode NV", results["left"]["negative_volume_mm3"],
          results["right"]["negative_volume_mm3"], "timings", results["timings_s"])


def test_segment_names_match_as_in_files(scene):
    """Files matched "Left_mandibular_condyle" (underscores as spaces), Slicer's segments did
    not ("has none of the segments"): one rule now (labels.matching_name)."""
    import numpy as np
    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.scene import mrml_bridge

    labels = sitk.GetImageFromArray(np.pad(np.ones((3, 3, 3), np.uint8), 2))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "drawn")
    segment_id = mrml_bridge.segmentation_from_labels(labels, segmentation, [1])[1]
    segmentation.GetSegmentation().GetSegment(segment_id).SetName("left_Mandibular__condyle")
    assert mrml_bridge.find_segment_id(segmentation, "Left mandibular condyle") == segment_id
    assert mrml_bridge.find_segment_id(segmentation, "Left temporal bone") is None


def test_console_errors_name_the_volume(scene):
    """A CT volume without a head read "in-memory image: no head in the image" from the
    console (and in nv_batch.py's cohort.csv): now the volume's name."""
    import numpy as np
    import pytest
    import SimpleITK as sitk

    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    air = sitk.GetImageFromArray(np.full((40, 40, 40), -1000, np.int16))
    volume = mrml_bridge.volume_node_from_image(air, scene, "patient 7 CT")
    with pytest.raises(InputError, match="^patient 7 CT: .*no head"):
        MeasurementLogic().process(volume, None, segment=True, device="cpu")
