"""Checks of the module's scene side against independent truth, shared by pytest and Slicer.

``Testing/scene/test_mrml_bridge.py`` and ``Testing/scene/test_slicer_pipeline.py`` (pytest on
slicer-core) and ``NegativeVolumeSegmentationTest`` (inside 3D Slicer, through
:func:`run_self_test`) call the same functions, so the identical checks run in both places.
Every check takes an MRML scene, builds its own inputs from shapes whose answer is known without
the code under test (ITK's index-to-point definition, ball volumes, the docs/interfaces.md table, the
phantoms' truth.json), and raises AssertionError with the measured and expected values when they
disagree.

The checks live in files of one concept each: :mod:`.common` (shared helpers),
:mod:`.bridge_checks` (MRML bridge), :mod:`.measure_checks` (measuring existing segments, in
process and in the background), :mod:`.pipeline_checks` (the whole pipeline in process) and
:mod:`.background_checks` (the background run that segments). The pipeline and background ones
(PIPELINE_CHECKS = TORCH_CHECKS) need PyTorch and the bundled models; without PyTorch
:func:`run_self_test` runs the others and says what it skipped and why.
"""

import logging

from .background_checks import (  # noqa: F401 (the checks' public names)
    _one_line_error, check_background_cancel, check_background_matches_in_process,
    check_bad_input_changes_nothing)
from .bridge_checks import (  # noqa: F401
    BRIDGE_CHECKS, check_label_segments, check_left_stays_left, check_results_table,
    check_thickness_model, check_transformed_nodes, check_volume_geometry_roundtrip,
    sphere_with_thickness)
from .common import (  # noqa: F401
    INTERFACE_SEGMENTS, _check, _close, _node_count, _same_numbers, _segment_counts,
    _segment_voxel_count, ball_label_image, oblique_direction)
from .measure_checks import (  # noqa: F401
    check_background_measure_existing, check_existing_segments_on_their_own_grid,
    check_logic_on_analytic_phantom, check_show_results)
from .pipeline_checks import (  # noqa: F401
    HEAD_SEED, HEAD_SPACING, NV_TOLERANCE, SURFACE_TOLERANCE, check_logic_on_head_phantom,
    check_seg_nrrd_roundtrip, head_phantom, reoriented)

MRML_CHECKS = BRIDGE_CHECKS + (check_logic_on_analytic_phantom,
                               check_existing_segments_on_their_own_grid, check_show_results,
                               check_background_measure_existing)
PIPELINE_CHECKS = (check_logic_on_head_phantom, check_background_matches_in_process,
                   check_background_cancel, check_bad_input_changes_nothing)
ALL_CHECKS = MRML_CHECKS + PIPELINE_CHECKS
TORCH_CHECKS = PIPELINE_CHECKS  # they segment with the bundled networks

MINIMUM_TORCH = (1, 13)  # the checkpoint loader needs torch.load(weights_only=...)
NO_TORCH = ("PyTorch is not installed: install it with the PyTorch extension to run the "
            "segmentation checks")


def torch_problem():
    """None when PyTorch >= 1.13 is installed (found without importing it), else one line
    saying why the checks that segment cannot run."""
    from NegativeVolumeSegmentationLib.scene import torch_probe

    installed, version, _cuda = torch_probe.torch_package()
    if not installed:
        return NO_TORCH
    if torch_probe.older_than(version, "%d.%d" % MINIMUM_TORCH):
        return ("PyTorch %s is older than %d.%d: update it with the PyTorch extension to run the "
                "segmentation checks" % ((version,) + MINIMUM_TORCH))
    return None


def run_self_test(scene, say, checks=None, clear=None):
    """The module's self-test body: run ``checks`` (default ALL_CHECKS) on ``scene``, each on a
    cleared scene, reporting through ``say(message)``; the checks of TORCH_CHECKS are skipped,
    with a message naming them and the reason, when PyTorch (>= 1.13) is not installed.

    ``clear()`` empties the scene (default ``scene.Clear(0)``). Raises AssertionError on the first
    check that fails. Returns {"passed": [names], "skipped": [names], "reason": why or None}.
    """
    checks = ALL_CHECKS if checks is None else tuple(checks)
    clear = clear or (lambda: scene.Clear(0))
    needs_torch = [check for check in checks if check in TORCH_CHECKS]
    reason = torch_problem() if needs_torch else None
    skipped = needs_torch if reason else []
    if skipped:
        message = "%s. Skipped: %s." % (reason, ", ".join(c.__name__ for c in skipped))
        logging.warning("Negative volume self-test: %s", message)
        say(message)
    passed = []
    for check in checks:
        if check in skipped:
            continue
        clear()
        say("Running %s" % check.__name__)
        check(scene)
        passed.append(check.__name__)
    clear()
    if skipped:
        say("The %d negative volume checks that run without PyTorch passed; %d skipped (%s)"
            % (len(passed), len(skipped), reason))
    else:
        say("All negative volume checks passed")
    return {"passed": passed, "skipped": [c.__name__ for c in skipped], "reason": reason}
