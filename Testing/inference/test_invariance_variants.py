"""The variant builder of benchmarks/real_ct_invariance.py (not the pipeline).

A small synthetic "head" (a soft-tissue ellipsoid) holds two dense balls off its centre. The
truth is analytic: where the balls were drawn, and the rotation each variant names (rotation
matrices written out here, independently of the builder). Checked: each variant's transform maps
a ball's centre, measured in the variant image, back onto the drawn centre within half a voxel;
a rotation really rotates (the vector between the balls turns by the named rotation); the grid
covers the whole rotated head; a mirror variant keeps the geometry and flips the balls across
the image centre; a half-voxel shift gives the 2 x 2 x 2 block means, a smoothing scipy's
Gaussian of the named sigma.
"""

import math

import numpy as np
import pytest
import SimpleITK as sitk

SIZE = (44, 40, 36)                    # x, y, z voxels
SPACING = (1.0, 1.1, 1.3)              # mm
ORIGIN = (-20.0, 35.0, 100.0)          # LPS mm
HEAD_SEMI_AXES = (18.0, 17.0, 18.0)    # mm, about the grid centre
BALLS = ((7.0, -5.0, 4.0), (-6.0, 6.0, -5.0))  # centres relative to the grid centre (mm)
BALL_RADIUS = 4.5
BALL_HU, TISSUE_HU, AIR_HU = 1000.0, 40.0, -1000.0


@pytest.fixture(scope="module")
def bench(invariance_benchmark):
    return invariance_benchmark


def grid_centre():
    return np.array([o + s * (n - 1) / 2.0 for o, s, n in zip(ORIGIN, SPACING, SIZE)])


def true_balls():
    return [grid_centre() + np.asarray(b) for b in BALLS]


@pytest.fixture(scope="module")
def phantom():
    """Ellipsoid head, two balls; int16 HU, identity direction (x = L, y = P, z = S)."""
    z, y, x = np.meshgrid(*[o + s * np.arange(n) for o, s, n in
                            zip(ORIGIN[::-1], SPACING[::-1], SIZE[::-1])], indexing="ij")
    c = grid_centre()
    array = np.full(x.shape, AIR_HU, dtype=np.float32)
    inside = sum(((p - cc) / a) ** 2 for p, cc, a in zip((x, y, z), c, HEAD_SEMI_AXES)) <= 1.0
    array[inside] = TISSUE_HU
    for b in true_balls():
        array[(x - b[0]) ** 2 + (y - b[1]) ** 2 + (z - b[2]) ** 2 <= BALL_RADIUS ** 2] = BALL_HU
    image = sitk.GetImageFromArray(array.astype(np.int16))
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    return image


def measured_balls(image):
    """Physical centroids (LPS mm) of the two connected components above 500 HU."""
    dense = sitk.ConnectedComponent(sitk.BinaryThreshold(image, 500.0, 32767.0, 1, 0))
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(dense)
    assert stats.GetNumberOfLabels() == 2, "expected two dense balls"
    return [np.asarray(stats.GetCentroid(label)) for label in stats.GetLabels()]


def tissue_cm3(image):
    array = sitk.GetArrayViewFromImage(image)
    return np.count_nonzero(array > -400) * np.prod(image.GetSpacing()) / 1e3


def rx(deg):
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def ry(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rz(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


# the rotation each named variant must apply to the head (x first, then y, then z)
EXPECTED_ROTATIONS = {
    "rot_LR_+12": rx(12.0),
    "rot_AP_+10": ry(10.0),
    "rot_SI_+15": rz(15.0),
    "rot_LR+12_AP-8": ry(-8.0) @ rx(12.0),
}
HALF_VOXEL_MM = 0.5 * min(SPACING)


def match(found, truth):
    """found centres reordered to pair with truth (nearest)."""
    return [min(found, key=lambda f: np.linalg.norm(f - t)) for t in truth]


def test_every_variant_maps_the_balls_back(bench, phantom):
    for name in bench.VARIANTS:
        if bench.is_identity(phantom, name):
            continue
        variant, to_original, swapped = bench.build_variant(phantom, name)
        found = [np.asarray(to_original.TransformPoint([float(v) for v in p]))
                 for p in measured_balls(variant)]
        for truth, back in zip(true_balls(), match(found, true_balls())):
            assert np.linalg.norm(back - truth) <= HALF_VOXEL_MM, (name, truth, back)
        assert swapped == (name == "mirror")
        # the grid covers the whole head: its tissue volume is kept (within 3 %); not for the
        # blurring kinds, whose averaging moves the -400 HU level of this small head inwards
        # by ~0.2 mm (their own tests below check their voxels)
        if bench.VARIANTS[name][0] not in ("shift", "smooth"):
            assert tissue_cm3(variant) == pytest.approx(tissue_cm3(phantom), rel=0.03), name


def test_rotations_rotate_the_head_by_the_named_angles(bench, phantom):
    truth = true_balls()
    for name, rotation in EXPECTED_ROTATIONS.items():
        variant, _, _ = bench.build_variant(phantom, name)
        assert variant.GetDirection() == phantom.GetDirection()
        assert variant.GetSpacing() == phantom.GetSpacing()
        found = measured_balls(variant)
        # the vector between the balls turns by the named rotation whatever the centre of rotation
        expected = rotation @ (truth[0] - truth[1])
        pairs = [(found[0], found[1]), (found[1], found[0])]
        got = min((a - b for a, b in pairs), key=lambda v: np.linalg.norm(v - expected))
        assert np.linalg.norm(got - expected) <= HALF_VOXEL_MM, (name, expected, got)
        # and the balls did move (not the identity)
        moved = min(np.linalg.norm(f - t) for f in found for t in truth)
        assert moved > 1.0, name


def test_oblique_variants_rotate_the_geometry_and_keep_the_voxels(bench, phantom):
    truth = true_balls()
    expected_rotation = {"oblique_LR+12_AP-8": ry(-8.0) @ rx(12.0)}
    names = [n for n, (kind, _) in bench.VARIANTS.items() if kind == "oblique"]
    assert sorted(names) == sorted(expected_rotation)
    for name in names:
        variant, _, swapped = bench.build_variant(phantom, name)
        assert not swapped
        # the voxels themselves are untouched: no resampling
        assert np.array_equal(sitk.GetArrayFromImage(variant), sitk.GetArrayFromImage(phantom))
        assert variant.GetSpacing() == phantom.GetSpacing()
        rotation = expected_rotation[name]
        direction = np.asarray(variant.GetDirection()).reshape(3, 3)
        assert np.allclose(direction, rotation @ np.asarray(phantom.GetDirection()).reshape(3, 3))
        # the balls measured in the untouched image, turned by the named rotation (the same
        # voxels, so exactly), and near the drawn ones
        before, found = measured_balls(phantom), measured_balls(variant)
        expected = rotation @ (before[0] - before[1])
        got = min((found[0] - found[1], found[1] - found[0]),
                  key=lambda v: np.linalg.norm(v - expected))
        assert np.linalg.norm(got - expected) <= 1e-6, (name, expected, got)
        drawn = rotation @ (truth[0] - truth[1])
        assert min(np.linalg.norm(expected - drawn), np.linalg.norm(expected + drawn)) \
            <= HALF_VOXEL_MM


def test_resampled_variants_have_the_named_spacing(bench, phantom):
    for name, (kind, spacing) in bench.VARIANTS.items():
        if kind != "resample":
            continue
        variant, _, _ = bench.build_variant(phantom, name)
        assert np.allclose(variant.GetSpacing(), spacing)
        extent = np.asarray(variant.GetSize()) * np.asarray(variant.GetSpacing())
        assert np.allclose(extent, np.asarray(SIZE) * np.asarray(SPACING), atol=max(spacing))


def test_stored_and_cropped_variants_hold_the_same_voxels(bench, phantom):
    original = sitk.GetArrayFromImage(phantom)
    for name, (kind, code) in bench.VARIANTS.items():
        if kind not in ("stored", "crop"):
            continue
        variant, to_original, swapped = bench.build_variant(phantom, name)
        assert not swapped
        back = sitk.GetArrayFromImage(sitk.Resample(variant, phantom, to_original,
                                                    sitk.sitkNearestNeighbor, -2000.0))
        if kind == "stored":   # every voxel, in another order
            assert variant.GetDirection() != phantom.GetDirection()
            assert np.array_equal(back, original), name
        else:                  # the voxels kept are where they were; the others are gone
            kept = back != -2000.0
            low, high = code
            assert kept.sum() == np.prod([n - a - b for n, a, b in zip(SIZE, low, high)])
            assert np.array_equal(back[kept], original[kept]), name


def test_noise_variants_add_noise_of_the_named_sigma(bench, phantom):
    original = sitk.GetArrayFromImage(phantom).astype(float)
    for name, (kind, (sigma, seed)) in ((n, v) for n, v in bench.VARIANTS.items()
                                        if v[0] == "noise"):
        variant, _, swapped = bench.build_variant(phantom, name)
        assert not swapped and variant.GetDirection() == phantom.GetDirection()
        difference = sitk.GetArrayFromImage(variant).astype(float) - original
        assert abs(difference.mean()) < 0.05 * sigma
        assert difference.std() == pytest.approx(sigma, rel=0.05), name


def test_mirror_flips_the_balls_and_keeps_the_geometry(bench, phantom):
    variant, _, _ = bench.build_variant(phantom, "mirror")
    for key in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(variant, key)() == getattr(phantom, key)(), key
    cx = grid_centre()[0]
    for truth, found in zip(true_balls(), match(measured_balls(variant),
                                                [t * [-1, 1, 1] + [2 * cx, 0, 0]
                                                 for t in true_balls()])):
        assert found[0] - cx == pytest.approx(-(truth[0] - cx), abs=HALF_VOXEL_MM)
        assert found[1:] == pytest.approx(truth[1:], abs=HALF_VOXEL_MM)
        assert abs(truth[0] - cx) > 5.0  # off-centre, so the flip is visible


def test_shifted_variants_move_the_grid_by_the_named_fraction(bench, phantom):
    """Half a voxel along each axis: every voxel of the variant is the mean of the 2 x 2 x 2
    voxels of the scan around it (what linear interpolation gives there), the grid moved by half
    a voxel, one voxel fewer per axis."""
    original = sitk.GetArrayFromImage(phantom).astype(float)
    shifts = [(n, v[1]) for n, v in bench.VARIANTS.items() if v[0] == "shift"]
    assert shifts
    for name, fractions in shifts:
        assert fractions == (0.5, 0.5, 0.5), name   # the truth below is for half voxels
        variant, to_original, swapped = bench.build_variant(phantom, name)
        assert not swapped and variant.GetSpacing() == phantom.GetSpacing()
        assert np.allclose(np.subtract(variant.GetOrigin(), ORIGIN), 0.5 * np.asarray(SPACING))
        block_mean = sum(original[a:a + original.shape[0] - 1, b:b + original.shape[1] - 1,
                                  c:c + original.shape[2] - 1]
                         for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8.0
        got = sitk.GetArrayFromImage(variant).astype(float)
        assert got.shape == block_mean.shape
        assert np.abs(got - block_mean).max() <= 1.0, name   # int16 rounding


def test_smoothed_variants_blur_by_the_named_sigma(bench, phantom):
    """Against scipy's Gaussian filter of the same sigma (mm -> voxels per axis), away from the
    grid's faces: ITK's recursive Gaussian is an approximation, within a few HU of a 1000 HU
    edge."""
    from scipy import ndimage

    original = sitk.GetArrayFromImage(phantom).astype(float)
    smooths = [(n, v[1]) for n, v in bench.VARIANTS.items() if v[0] == "smooth"]
    assert smooths
    for name, sigma in smooths:
        variant, to_original, swapped = bench.build_variant(phantom, name)
        for key in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
            assert getattr(variant, key)() == getattr(phantom, key)(), key
        expected = ndimage.gaussian_filter(original, [sigma / s for s in SPACING[::-1]],
                                           mode="nearest")
        got = sitk.GetArrayFromImage(variant).astype(float)
        inner = (slice(3, -3),) * 3
        assert np.abs(got - expected)[inner].max() <= 25.0, name
        assert np.abs(got - original)[inner].max() >= 50.0, name   # it did blur the edges
