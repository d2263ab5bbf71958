"""The joints found do not depend on the scan's voxel grid (issue "Real head CT in any pose").

Unit checks against analytic truth: the localiser's coarse grid lies at multiples of its spacing in
LPS whatever the scan's grid; the pre-smoothing gives one blur for any source spacing; a strong
candidate near the head's midline never pairs; a condyle found near the midline is refused by the
joint search. End to end (bundled models): one held-out head phantom, as generated and resampled
to 0.7 mm isotropic, gives both joints within 1 mm of each other and within 3 mm of the
phantom's true condyle centres (truth.json), NV within 10 % of truth on both grids.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference import head_grid, joint_search
from NegativeVolumeSegmentationLib.inference import localize as Z
from NegativeVolumeSegmentationLib.inference.localize import Candidate, HeadFrame


def _image(size, spacing, origin):
    image = sitk.Image([int(v) for v in size], sitk.sitkFloat32)
    image.SetSpacing([float(v) for v in spacing])
    image.SetOrigin([float(v) for v in origin])
    return image


def test_anchored_grid_at_multiples_of_the_spacing_covering_the_scan():
    for size, spacing, origin in (((290, 300, 214), (1.0, 1.0, 1.0), (110.0, 120.0, 1520.0)),
                                  ((414, 428, 305), (0.7, 0.7, 0.7), (109.85, 119.85, 1519.85)),
                                  ((580, 600, 143), (0.5, 0.5, 1.5), (109.75, 119.75, 1520.25))):
        ct = _image(size, spacing, origin)
        grid = head_grid.anchored_grid(ct, (3.0, 3.0, 3.0))
        o = np.asarray(grid.GetOrigin())
        assert np.allclose(o / 3.0, np.round(o / 3.0), atol=1e-6), o
        lo, hi = head_grid.bounding_box(ct)
        last = o + 3.0 * (np.asarray(grid.GetSize()) - 1)
        assert np.all(o <= lo + 1e-6) and np.all(last >= hi - 1e-6)
        assert np.all(o > lo - 3.0) and np.all(last < hi + 3.0)   # no more than one voxel extra


def test_presmooth_sigma_gives_one_blur_for_any_source_spacing():
    for source in (0.3, 0.5, 1.0, 1.5):
        sigma = head_grid.presmooth_sigma((source,) * 3, (3.0,) * 3)
        total = np.sqrt(np.square(sigma) + source ** 2 / 12.0)
        assert np.allclose(total, 1.2), (source, total)


def test_smooth_resample_physical_same_values_from_two_grids():
    """A smooth analytic field sampled at 0.5 and 1.0 mm gives nearly the same coarse image."""
    def field(spacing, size):
        image = _image(size, spacing, (0.0, 0.0, 0.0))
        idx = np.indices(size[::-1]).astype(float)
        z, y, x = [idx[i] * spacing[2 - i] for i in range(3)]
        array = 1000.0 * np.sin(x / 9.0) * np.cos(y / 11.0) + 5.0 * z
        out = sitk.GetImageFromArray(array.astype(np.float32))
        out.CopyInformation(image)
        return out

    fine, coarse_source = field((0.5, 0.5, 0.5), (120, 120, 120)), field((1.0, 1.0, 1.0), (60, 60, 60))
    grid = head_grid.anchored_grid(coarse_source, (3.0, 3.0, 3.0))
    coarse = [sitk.GetArrayFromImage(head_grid.smooth_resample_physical(f, grid))
              for f in (fine, coarse_source)]
    inner = (slice(3, -3),) * 3    # away from the scan's edge (air outside it)
    assert np.abs(coarse[0][inner] - coarse[1][inner]).max() < 15.0


def test_strong_candidate_near_the_midline_never_pairs():
    head = HeadFrame(midline_x=0.0, top_z=120.0)
    left, right = Candidate([50, 5, 0], 0.95), Candidate([-50, 5, 0], 0.6)
    midline = Candidate([-22, 30, 0], 0.9)   # 76 mm from the left joint: a "plausible" pair
    assert Z.pair_problems(left, midline, head) == []
    chosen, warnings = Z.choose_joints([left, midline, right], head)
    assert chosen[L.LEFT] is left and chosen[L.RIGHT] is right and warnings == []
    chosen, warnings = Z.choose_joints([left, midline], head)
    assert chosen[L.LEFT] is left and chosen[L.RIGHT] is None
    assert "lie < 25 mm from the head's midline" in warnings[0]


def test_joint_search_refuses_a_condyle_near_the_midline():
    assert joint_search.lateral_enough(np.array([30.0, 0, 0]), L.LEFT, 0.0)
    assert not joint_search.lateral_enough(np.array([20.0, 0, 0]), L.LEFT, 0.0)
    assert not joint_search.lateral_enough(np.array([30.0, 0, 0]), L.RIGHT, 0.0)  # across it
    assert joint_search.lateral_enough(np.array([-30.0, 0, 0]), L.RIGHT, 0.0)
    assert joint_search.lateral_enough(np.array([1.0, 0, 0]), L.RIGHT, None)


@pytest.fixture(scope="module")
def models():
    from NegativeVolumeSegmentationLib.inference import models as bundled_models

    try:
        return bundled_models.load_models(device="cpu")
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)


def _resampled(ct, spacing):
    old, new = np.asarray(ct.GetSpacing()), np.asarray(spacing, float)
    size = np.maximum(1, np.round(np.asarray(ct.GetSize()) * old / new)).astype(int)
    ref = sitk.Image([int(s) for s in size], ct.GetPixelID())
    ref.SetSpacing([float(s) for s in new])
    ref.SetDirection(ct.GetDirection())
    d = np.asarray(ct.GetDirection()).reshape(3, 3)
    ref.SetOrigin([float(v) for v in np.asarray(ct.GetOrigin()) + d @ (0.5 * (new - old))])
    return sitk.Resample(ct, ref, sitk.Transform(), sitk.sitkLinear, -1000.0, ct.GetPixelID())


@pytest.mark.slow
def test_same_phantom_on_two_grids_same_joints(models):
    from NegativeVolumeSegmentationLib import pipeline
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    ph = make_phantom("head", seed=100011, fov="head", mouth="closed", spacing=(0.5, 0.5, 1.0))
    reports = [pipeline.run_case(ct, models, device="cpu").report
               for ct in (ph.ct, _resampled(ph.ct, (0.7, 0.7, 0.7)))]
    for side in L.SIDES:
        truth = ph.truth[side]
        centres = []
        for rep in reports:
            assert rep[side] is not None, rep["warnings"]
            centre = np.asarray(rep[side]["condyle_center_lps_mm"])
            assert np.linalg.norm(centre - truth["condyle_center_lps_mm"]) < 3.0, (side, centre)
            nv = rep[side]["negative_volume_mm3"] / truth["negative_volume_mm3"] - 1.0
            assert abs(nv) <= 0.10, (side, nv)
            centres.append(centre)
        assert np.linalg.norm(centres[0] - centres[1]) < 1.0, (side, centres)
