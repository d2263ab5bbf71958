"""Crop -> resample -> mirror -> map back onto the CT grid reproduces the labels (segment.py).

Truth: analytic joints (ellipsoid condyle with a lateral knob, spherical temporal-bone cap) drawn
directly on a CT grid with a rotated direction matrix and anisotropic spacing; the right joint is
the exact mirror (x -> -x) of the left one.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.inference import segment

JOINT_X_MM = 50.0
SPACING = (0.45, 0.55, 0.9)


def _rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _points(image):
    size = image.GetSize()
    k, j, i = np.meshgrid(np.arange(size[2]), np.arange(size[1]), np.arange(size[0]),
                          indexing="ij")
    idx = np.stack([i.ravel(), j.ravel(), k.ravel()], 1).astype(float)
    d = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())[None]
    return (idx @ d.T + np.asarray(image.GetOrigin())).reshape(size[2], size[1], size[0], 3)


def joint_labels(points, side):
    """Labels of one analytic joint at LPS ``points``; lateral is +x for left, -x for right."""
    lateral = 1.0 if side == L.LEFT else -1.0
    c = np.array([lateral * JOINT_X_MM, 0.0, 0.0])
    q = points - c
    condyle = (q[..., 0] / 9.0) ** 2 + (q[..., 1] / 5.0) ** 2 + (q[..., 2] / 7.0) ** 2 <= 1.0
    knob = np.linalg.norm(q - np.array([lateral * 8.0, 0.0, -4.0]), axis=-1) <= 3.0
    r = np.linalg.norm(q - np.array([0.0, 0.0, -2.0]), axis=-1)
    tb = (r >= 11.0) & (r <= 15.0) & (q[..., 2] > 1.0) & ~(condyle | knob)
    out = np.zeros(points.shape[:3], np.uint8)
    out[tb] = L.TEMPORAL_BONE[side]
    out[condyle | knob] = L.CONDYLE[side]
    return out


def make_ct_grid():
    image = sitk.Image([300, 100, 60], sitk.sitkUInt8)
    image.SetSpacing(SPACING)
    direction = _rotation(0.15, -0.1, 0.25)
    image.SetDirection([float(v) for v in direction.ravel()])
    centre_index = (np.asarray(image.GetSize()) - 1) / 2.0
    image.SetOrigin([float(v) for v in -direction @ (np.asarray(SPACING) * centre_index)])
    pts = _points(image)
    array = joint_labels(pts, L.LEFT) | joint_labels(pts, L.RIGHT)
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(image)
    return labels


def dice(a, b):
    return 200.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _one_hot_crop(labels, side, spacing):
    """Truth one-hot (background, MC, TB) resampled to the joint crop, as a model would output."""
    centre = [JOINT_X_MM if side == L.LEFT else -JOINT_X_MM, 0.0, 0.0]
    reference = segment.joint_crop_reference(centre, side, spacing, (36.0, 30.0, 30.0))
    assert reference.GetSize() == (90, 75, 75)
    channels = []
    for value in (L.CONDYLE[side], L.TEMPORAL_BONE[side]):
        mask = sitk.Cast(labels == value, sitk.sitkFloat32)
        channels.append(sitk.GetArrayFromImage(segment.resample_to(mask, reference)))
    probs = np.stack([np.clip(1 - channels[0] - channels[1], 0, 1)] + channels)
    return reference, probs


def test_crop_and_map_back_reproduce_labels_on_rotated_anisotropic_grid():
    labels = make_ct_grid()
    truth = sitk.GetArrayFromImage(labels)
    assert (truth == 1).sum() > 1000 and (truth == 4).sum() > 1000
    joints = {}
    for side in L.SIDES:
        reference, probs = _one_hot_crop(labels, side, (0.4, 0.4, 0.4))
        box, on_ct = segment.probabilities_to_ct(probs, reference, labels)
        joints[side] = segment.JointSegmentation(side, None, box, {"condyle": on_ct[1],
                                                                   "temporal_bone": on_ct[2]})
    result = sitk.GetArrayFromImage(segment.label_map(labels, joints))
    for value in (1, 2, 3, 4):
        score = dice(result == value, truth == value)
        assert score >= 99.0, (value, score)


def test_right_crop_is_the_mirror_of_the_left_crop():
    """Evaluated analytically at the crops' voxel centres, the right joint's crop array equals the
    left one's exactly; the resampled CT labels agree with that analytic crop."""
    labels = make_ct_grid()
    analytic = {}
    for side in L.SIDES:
        reference, probs = _one_hot_crop(labels, side, (0.4, 0.4, 0.4))
        analytic[side] = joint_labels(_points(reference), side)
        for channel, values in ((1, L.CONDYLE), (2, L.TEMPORAL_BONE)):
            assert dice(probs[channel] > 0.5, analytic[side] == values[side]) >= 93.0
    mirrored = np.where(analytic[L.RIGHT] == 2, 1, np.where(analytic[L.RIGHT] == 4, 3, 0))
    assert np.array_equal(mirrored, analytic[L.LEFT])
    # the lateral knob lies at high array index i (lateral) in both crops
    for side in L.SIDES:
        mc = analytic[side] == L.CONDYLE[side]
        i_centre = (mc.shape[2] - 1) / 2.0
        columns = np.nonzero(mc)[2]
        assert columns.max() - i_centre > i_centre - columns.min() + 3  # knob: 11 vs 9 mm


def test_crop_reference_geometry():
    ref = segment.joint_crop_reference([10.0, -20.0, 30.0], L.RIGHT, (0.4, 0.5, 0.25), (48, 40, 20))
    assert ref.GetSize() == (120, 80, 80)
    assert np.allclose(np.asarray(ref.GetDirection()).reshape(3, 3), np.diag([-1, 1, 1]))
    centre = ref.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in ref.GetSize()])
    assert np.allclose(centre, [10.0, -20.0, 30.0])
    # index i grows towards the patient's right (-x) in a right crop
    assert ref.TransformIndexToPhysicalPoint([1, 0, 0])[0] < ref.TransformIndexToPhysicalPoint([0, 0, 0])[0]


def test_crop_ct_keeps_physical_positions():
    """A bright point at a known LPS position shows up at the matching crop voxel."""
    ct = sitk.Image([80, 80, 40], sitk.sitkFloat32) - 1000.0
    ct.SetSpacing((0.5, 0.5, 1.0))
    ct.SetOrigin((-20.0, -20.0, -20.0))
    ct[50, 30, 25] = 2000.0
    point = ct.TransformIndexToPhysicalPoint([50, 30, 25])
    crop = segment.joint_crop_ct(ct, [point[0] - 2.0, point[1], point[2]], L.RIGHT, (0.5, 0.5, 1.0),
                           (20.5, 20.5, 21.0))  # odd voxel counts: centre on a voxel
    arr = sitk.GetArrayFromImage(crop)
    k, j, i = np.unravel_index(np.argmax(arr), arr.shape)
    assert np.allclose(crop.TransformIndexToPhysicalPoint([int(i), int(j), int(k)]), point)
    assert arr.min() == -1000.0


def test_normalise_intensity():
    from NegativeVolumeSegmentationLib.inference.crops import normalise

    x = normalise([-2000.0, -1000.0, 1000.0, 5000.0],
                                    {"clip_hu": [-1000, 3000], "center_hu": 500.0, "scale_hu": 1000.0})
    assert np.allclose(x, [-1.5, -1.5, 0.5, 2.5])


def test_the_cleaning_keeps_the_main_condyle_fills_holes_drops_specks():
    from NegativeVolumeSegmentationLib.engine import bone_pieces

    z, y, x = np.indices((40, 40, 40))
    ball = (x - 20) ** 2 + (y - 20) ** 2 + (z - 20) ** 2 <= 10 ** 2
    hole = (x - 20) ** 2 + (y - 20) ** 2 + (z - 20) ** 2 <= 4 ** 2
    speck = (x - 3) ** 2 + (y - 3) ** 2 + (z - 3) ** 2 <= 1
    mc = (ball & ~hole) | speck
    kept = bone_pieces.largest_piece(mc)
    assert not kept[3, 3, 3] and kept[20, 20, 30]
    assert np.array_equal(bone_pieces.fill_cavities(kept), ball)
    plate = (z == 30) & (x > 2) & (x < 38)
    crumb = (x == 1) & (y == 1) & (z == 1)
    assert np.array_equal(bone_pieces.drop_specks(plate | crumb), plate)


def test_temporal_bone_enhancement_recovers_a_thin_roof():
    """A 1 mm bone plate the network half-missed (probability 0.3 in a 6 mm gap) is restored;
    nothing is added where the probability is 0."""
    from NegativeVolumeSegmentationLib.inference import postprocess

    shape = (40, 50, 50)
    z, y, x = np.indices(shape)
    plate = (z >= 20) & (z <= 21)                              # 2 voxels of 0.5 mm
    hu = np.where(plate, 1200.0, 40.0).astype(np.float32)
    hu[(z == 8) & (np.abs(x - 25) < 20)] = 1200.0             # other bone, probability 0
    ct = sitk.GetImageFromArray(hu)
    ct.SetSpacing((0.5, 0.5, 0.5))
    gap = plate & (np.abs(x - 25) <= 6)
    tb_mask = plate & ~gap
    near = (z >= 18) & (z <= 23)                               # a network's probability is smooth
    probability = np.where(near, np.where(np.abs(x - 25) <= 6, 0.3, 0.9), 0.0).astype(np.float32)
    out = postprocess.enhance_temporal_bone(tb_mask, probability, ct)
    inner_gap = gap & (np.abs(y - 25) < 20)
    assert out[inner_gap].mean() > 0.9
    assert not out[z < 15].any()
    assert out[tb_mask].all()


def test_label_map_overlapping_boxes_more_confident_joint_wins():
    ct = sitk.Image([30, 20, 20], sitk.sitkFloat32)
    left_box = (np.array([0, 0, 0]), np.array([20, 20, 20]))
    right_box = (np.array([10, 0, 0]), np.array([30, 20, 20]))
    shape = (20, 20, 20)
    left = segment.JointSegmentation(L.LEFT, None, left_box, {
        "condyle": np.full(shape, 0.7, np.float32), "temporal_bone": np.zeros(shape, np.float32)})
    tb = np.zeros(shape, np.float32)
    tb[:, :, :5] = 0.9          # x 10..14: more confident than the left condyle's 0.7
    tb[:, :, 5:10] = 0.6        # x 15..19: less confident
    right = segment.JointSegmentation(L.RIGHT, None, right_box, {
        "condyle": np.zeros(shape, np.float32), "temporal_bone": tb})
    out = sitk.GetArrayFromImage(segment.label_map(ct, {L.LEFT: left, L.RIGHT: right}))
    assert (out[:, :, :10] == L.CONDYLE[L.LEFT]).all()
    assert (out[:, :, 10:15] == L.TEMPORAL_BONE[L.RIGHT]).all()
    assert (out[:, :, 15:20] == L.CONDYLE[L.LEFT]).all()
    assert (out[:, :, 20:] == 0).all()


def _physical_points(image):
    """(z, y, x, 3) LPS mm of every voxel centre, by SimpleITK's own index-to-point mapping of
    the grid's corners (affine: the rest follows)."""
    size = image.GetSize()
    origin = np.array(image.TransformIndexToPhysicalPoint((0, 0, 0)))
    steps = [np.array(image.TransformIndexToPhysicalPoint(tuple(int(a == b) for b in range(3))))
             - origin for a in range(3)]
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    return origin + i[..., None] * steps[0] + j[..., None] * steps[1] + k[..., None] * steps[2]


def test_grid_points_of_a_box_are_simpleitks_points():
    """GridPoints (coordinates and distances per z slab, points of a mask) on an oblique,
    anisotropic grid and an index box inside it: the LPS points SimpleITK gives for the same
    voxels."""
    from NegativeVolumeSegmentationLib.inference import postprocess

    image = sitk.Image(30, 20, 10, sitk.sitkUInt8)
    image.SetSpacing((0.5, 0.6, 2.0))
    c, s = np.cos(0.3), np.sin(0.3)
    image.SetDirection((c, -s, 0, 0, 0, 1, -s, -c, 0))
    image.SetOrigin((-20.0, 15.0, 30.0))
    box = (np.array([3, 4, 2]), np.array([25, 17, 9]))
    grid = postprocess.GridPoints(image, box)
    assert grid.shape == (7, 13, 22)
    expected = _physical_points(image)[2:9, 4:17, 3:25]   # the box's voxels
    point = np.array([1.0, 2.0, 3.0])
    for k in range(grid.shape[0]):
        for axis in range(3):
            assert np.allclose(grid.coordinate(axis, k), expected[k, ..., axis])
            assert np.allclose(grid.coordinate(axis, k, 0.5), expected[k, ..., axis] - 0.5)
        assert np.allclose(grid.distance(point, k), np.linalg.norm(expected[k] - point, axis=-1))
    mask = np.zeros(grid.shape, bool)
    mask[1, 2, 3] = mask[6, 12, 21] = True
    assert np.allclose(grid.of(mask), [image.TransformIndexToPhysicalPoint((6, 6, 3)),
                                       image.TransformIndexToPhysicalPoint((24, 16, 8))])


def test_label_extent_cuts_condyle_15_mm_below_its_top_and_temporal_bone_at_25_mm():
    """A long vertical 'condyle' (sphere head r 5 mm on a 40 mm neck) and a thick bone slab above
    it, on a grid whose array axes are flipped and swapped (LPS z is the array's first index
    reversed): the MC keeps exactly the voxels within 15 mm of its top (LPS z: the upper face
    of its highest voxel), the TB exactly
    the slab voxels within 25 mm of the head's centre, measured in physical space."""
    from NegativeVolumeSegmentationLib.inference import postprocess

    image = sitk.Image(60, 70, 80, sitk.sitkUInt8)
    image.SetSpacing((0.5, 0.6, 0.75))
    image.SetDirection((0, 1, 0, -1, 0, 0, 0, 0, -1))   # i -> -y, j -> +x, k -> -z (LPS)
    image.SetOrigin((-20.0, 15.0, 30.0))
    points = _physical_points(image)
    head_centre = np.array([0.0, 0.0, 10.0])
    rel = points - head_centre
    radial = np.hypot(rel[..., 0], rel[..., 1])
    head = np.linalg.norm(rel, axis=-1) <= 5.0
    neck = (radial <= 3.0) & (rel[..., 2] <= 0.0) & (rel[..., 2] >= -40.0)
    mc = head | neck
    slab = (rel[..., 2] >= 7.0) & (rel[..., 2] <= 18.0)
    top = points[..., 2][mc].max() + 0.75 / 2            # the upper face of the top voxel
    mc_cut, tb_cut = postprocess.label_extent(mc, slab, postprocess.GridPoints(image))
    assert np.array_equal(mc_cut, mc & (points[..., 2] > top - 15.0))
    assert mc.sum() > 1.5 * mc_cut.sum()                    # the neck below the cut is gone
    # TB: the slab within 25 mm of the head's true centre, up to the estimate's error (the
    # centroid of the top 8 mm lies < 1.5 mm above the sphere's centre here)
    distance = np.linalg.norm(points - head_centre, axis=-1)
    assert not (tb_cut & ~slab).any()
    assert distance[tb_cut].max() <= 25.0 + 1.5
    assert not (slab & ~tb_cut & (distance <= 25.0 - 1.5)).any()
    assert 0 < tb_cut.sum() < slab.sum()



def test_the_condyle_keeps_15_mm_on_any_grid_however_its_layers_lie():
    """A vertical column (radius 4 mm, flat top, 40 mm long) on 0.3 mm grids at six origins, with
    the direction matrix exact, off identity by 1e-6 (a header's float noise) and turned 1 / 3
    deg about LR: the MC keeps the column's voxels whose centres lie within 15 mm under its true
    top. The plane 15 mm under the highest voxel centre passed through a layer of a horizontal
    grid, kept or lost by float rounding (51 layers, +2 %, on the exact grids); now 50 layers
    whatever the origin, and a tilted grid within half a layer (1 %)."""
    from NegativeVolumeSegmentationLib.inference import postprocess

    rng = np.random.default_rng(5)
    tilts = {"exact": (np.eye(3), 0.0), "noise": (np.eye(3) + rng.uniform(-1e-6, 1e-6, (3, 3)),
                                                   0.0),
             "turned 1": (_rotation(np.radians(1.0), 0.0, 0.0), 0.005),
             "turned 3": (_rotation(np.radians(3.0), 0.0, 0.0), 0.012)}
    for name, (direction, tolerance) in tilts.items():
        for origin_z in (-30.0, -29.95, -30.1, 1234.5, -977.3, 0.1):
            image = sitk.Image(40, 40, 150, sitk.sitkUInt8)
            image.SetSpacing((0.3, 0.3, 0.3))
            image.SetDirection(direction.ravel().tolist())
            image.SetOrigin((-6.0, -6.0, origin_z))
            points = _physical_points(image)
            top = points[..., 2].min() + 41.0              # the column's flat top, LPS z
            column = ((np.hypot(points[..., 0], points[..., 1]) <= 4.0)
                      & (points[..., 2] <= top) & (points[..., 2] >= top - 40.0))
            mc, _tb = postprocess.label_extent(column, np.zeros_like(column),
                                               postprocess.GridPoints(image))
            truth = column & (points[..., 2] > top - 15.0)
            assert mc.sum() == pytest.approx(truth.sum(), rel=tolerance), (name, origin_z)
            if not tolerance:
                assert len(np.unique(np.nonzero(mc)[0])) == 50, (name, origin_z)


def test_a_model_without_its_training_crop_is_refused():
    """A segmentation checkpoint that does not record the box it was trained on is refused with
    one line (before, a 48 x 48 x 40 mm box without the trainer's 4 mm upward offset was
    guessed: every crop 4 mm off what the network learnt)."""
    from NegativeVolumeSegmentationLib.errors import ModelError

    meta = {"target_spacing_mm": [0.5, 0.5, 0.5], "extra": {"crop": {"crop_size_mm": [40, 40, 40]}}}
    with pytest.raises(ModelError, match="crop_offset_mm"):
        segment.crop_settings(meta)
    meta["extra"]["crop"]["crop_offset_mm"] = [0, 0, 4]
    assert segment.crop_settings(meta)[1:3] == ([40.0, 40.0, 40.0], [0.0, 0.0, 4.0])
    # a model trained on one structure (nvseg run --model-dir): refused in one line (it was an
    # "internal error: ValueError", exit 1)
    with pytest.raises(ModelError, match="lack temporal_bone"):
        segment.structure_channels(["background", "mandibular condyle"])
