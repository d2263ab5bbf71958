"""Metrics against analytic shapes: spheres, boxes, known distances, hand-computed cross-entropy."""

import math

import numpy as np
import pytest
from scipy import integrate

from NegativeVolumeSegmentationLib.training import metrics
from NegativeVolumeSegmentationLib.errors import InputError


def sphere(shape, spacing, centre_mm, radius_mm):
    """Mask of the voxels whose centre (index * spacing, mm) lies within the ball."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    d2 = sum((g - c) ** 2 for g, c in zip(grids, centre_mm))
    return d2 <= radius_mm ** 2


def mean_distance_translated_sphere(r, delta):
    """Mean over sphere A's surface (area-uniform) of the distance to sphere B = A shifted by delta."""
    f = lambda u: abs(math.sqrt(r * r + delta * delta - 2 * r * delta * u) - r)  # noqa: E731
    return integrate.quad(f, -1.0, 1.0, points=[delta / (2 * r)])[0] / 2.0


def test_surface_of_a_cube_is_its_shell():
    mask = np.zeros((7, 7, 7), bool)
    mask[1:6, 1:6, 1:6] = True
    assert metrics.surface(mask).sum() == 5 ** 3 - 3 ** 3
    full = np.ones((4, 4, 4), bool)  # the array border counts as outside
    assert metrics.surface(full).sum() == 4 ** 3 - 2 ** 3


def test_dice_of_known_box_overlaps():
    a = np.zeros((20, 12, 12), bool)
    b = np.zeros_like(a)
    a[0:10, 0:10, 0:10] = True
    b[5:15, 0:10, 0:10] = True
    assert metrics.dice_percent(a, b) == pytest.approx(50.0)
    c = np.zeros_like(a)
    c[0:10, 0:10, 0:5] = True  # inside a, half its volume: 2*500/(1000+500)
    assert metrics.dice_percent(a, c) == pytest.approx(200.0 / 3.0)
    assert metrics.dice_percent(a, a) == 100.0
    assert metrics.dice_percent(a, ~a) == 0.0


def test_dice_of_offset_spheres_matches_lens_volume():
    spacing = (0.5, 0.5, 0.5)
    r, d = 8.0, 5.0
    a = sphere((48, 40, 40), spacing, (11.0, 10.0, 10.0), r)
    b = sphere((48, 40, 40), spacing, (11.0 + d, 10.0, 10.0), r)
    lens = math.pi * (4 * r + d) * (2 * r - d) ** 2 / 12.0
    truth = 100.0 * 2 * lens / (2 * 4.0 / 3.0 * math.pi * r ** 3)
    assert metrics.dice_percent(a, b) == pytest.approx(truth, abs=1.0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.2, 0.6, 0.8)])
def test_translated_spheres_hd_is_the_offset_and_assd_the_surface_mean(spacing):
    shape = (40, 64, 50)
    r = 9.0
    centre = (20.0, 16.0, 18.0)
    offset = (4.8, 3.0, 2.4)  # mm, not along an axis: |offset| = 6.16 mm
    delta = float(np.linalg.norm(offset))
    a = sphere(shape, spacing, centre, r)
    b = sphere(shape, spacing, np.add(centre, offset), r)
    d = metrics.surface_distances(a, b, spacing)
    voxel = max(spacing)
    assert d["hd_mm"] == pytest.approx(delta, abs=voxel)
    assert d["assd_mm"] == pytest.approx(mean_distance_translated_sphere(r, delta), abs=0.5 * voxel)
    assert d["assd_mm"] <= d["hd95_mm"] <= d["hd_mm"]
    # symmetric
    e = metrics.surface_distances(b, a, spacing)
    assert e["hd_mm"] == pytest.approx(d["hd_mm"]) and e["assd_mm"] == pytest.approx(d["assd_mm"])


def test_concentric_spheres_anisotropic_distances_equal_radius_difference():
    spacing = (1.5, 0.5, 0.75)  # mm per array axis, strongly anisotropic
    shape = (30, 90, 60)
    centre = (22.0, 22.0, 22.0)
    inner = sphere(shape, spacing, centre, 10.0)
    outer = sphere(shape, spacing, centre, 16.0)
    d = metrics.surface_distances(inner, outer, spacing)
    for key in ("hd_mm", "hd95_mm", "assd_mm"):
        assert d[key] == pytest.approx(6.0, abs=1.5), key
    assert d["assd_mm"] == pytest.approx(6.0, abs=0.5)
    # the same voxels read as 1 mm voxels: the gap is 6 mm / 0.5 mm = 12 voxels along axis 1
    assert metrics.surface_distances(inner, outer)["hd_mm"] == pytest.approx(12.0, abs=1.0)


def test_hd95_ignores_one_far_voxel_but_hd_does_not():
    spacing = (2.0, 1.0, 0.5)
    a = np.zeros((30, 30, 60), bool)
    a[2:12, 2:12, 2:22] = True  # 10 x 10 x 20 box
    b = a.copy()
    b[25, 20, 50] = True  # isolated voxel
    far = np.sqrt(((25 - 11) * 2.0) ** 2 + ((20 - 11) * 1.0) ** 2 + ((50 - 21) * 0.5) ** 2)
    n_surface_a = 10 * 10 * 20 - 8 * 8 * 18
    d = metrics.surface_distances(a, b, spacing)
    assert d["hd_mm"] == pytest.approx(far)
    assert d["hd95_mm"] == 0.0
    assert d["assd_mm"] == pytest.approx(far / (2 * n_surface_a + 1))


def test_empty_mask_cases():
    empty = np.zeros((5, 5, 5), bool)
    full = empty.copy()
    full[1:4, 1:4, 1:4] = True
    assert metrics.surface_distances(empty, empty) == {"hd_mm": 0.0, "hd95_mm": 0.0, "assd_mm": 0.0}
    assert all(math.isinf(v) for v in metrics.surface_distances(full, empty).values())
    assert all(math.isinf(v) for v in metrics.surface_distances(empty, full).values())
    assert metrics.dice_percent(empty, empty) == 100.0
    assert metrics.dice_percent(empty, full) == 0.0


def test_cross_entropy_hand_values():
    probs = np.array([[0.7, 0.2, 0.1, 0.0],
                      [0.2, 0.5, 0.1, 0.0],
                      [0.1, 0.3, 0.8, 1.0]])  # 3 classes x 4 voxels
    truth = np.array([0, 1, 2, 0])
    eps = 1e-7
    expected = -(math.log(0.7) + math.log(0.5) + math.log(0.8) + math.log(eps)) / 4
    assert metrics.cross_entropy(probs, truth, eps) == pytest.approx(expected)
    fg = np.array([0.9, 0.2, 0.6])
    mask = np.array([True, False, True])
    assert metrics.binary_cross_entropy(fg, mask) == pytest.approx(
        -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3)


def test_label_scores_and_images_use_physical_spacing():
    sitk = pytest.importorskip("SimpleITK")
    truth = np.zeros((20, 30, 40), np.uint8)
    pred = np.zeros_like(truth)
    truth[5:15, 5:25, 5:35] = 1
    pred[5:15, 5:25, 7:37] = 1  # shifted 2 voxels along x (array axis 2)
    truth[0:3, 0:3, 0:3] = 3
    pred[0:3, 0:3, 0:3] = 3
    ti, pi = sitk.GetImageFromArray(truth), sitk.GetImageFromArray(pred)
    for image in (ti, pi):
        image.SetSpacing((0.4, 1.0, 2.0))  # x, y, z
    scores = metrics.scores_from_images(pi, ti, {"MC": 1, "TB": 3})
    assert scores["MC"]["hd_mm"] == pytest.approx(0.8)  # 2 voxels x 0.4 mm along x
    assert scores["MC"]["dice_percent"] == pytest.approx(100.0 * 28 / 30)
    assert scores["MC"]["truth_volume_mm3"] == pytest.approx(10 * 20 * 30 * 0.8)
    assert scores["TB"]["dice_percent"] == 100.0 and scores["TB"]["hd_mm"] == 0.0
    pi.SetOrigin((1.0, 0.0, 0.0))
    with pytest.raises(InputError, match="origin"):
        metrics.scores_from_images(pi, ti, {"MC": 1})


def test_bad_inputs_raise_input_error():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(InputError):
        metrics.dice_percent(a, np.zeros((4, 4, 5), bool))
    with pytest.raises(InputError):
        metrics.surface_distances(a, a, spacing=(1.0, -1.0, 1.0))
    with pytest.raises(InputError):
        metrics.surface_distances(a, a, spacing=(1.0, 1.0))
    with pytest.raises(InputError):
        metrics.cross_entropy(np.ones((2, 4)), np.array([0, 1, 2, 0]))


def test_distances_do_not_depend_on_empty_margins():
    """The same two shapes, once filling their array and once inside a much larger one."""
    spacing = (0.7, 1.1, 0.9)
    a = sphere((21, 15, 17), spacing, (7.0, 7.7, 7.2), 6.5)
    b = sphere((21, 15, 17), spacing, (7.7, 8.8, 6.3), 6.0)
    tight = metrics.surface_distances(a, b, spacing)
    big_a = np.zeros((60, 50, 55), bool)
    big_b = np.zeros_like(big_a)
    big_a[20:41, 9:24, 30:47] = a
    big_b[20:41, 9:24, 30:47] = b
    assert metrics.surface_distances(big_a, big_b, spacing) == pytest.approx(tight)
