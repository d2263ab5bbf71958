"""Joint crops: centred on the condyle in mm, right joints mirrored onto the left, exact geometry."""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.phantom import make_phantom
from NegativeVolumeSegmentationLib.inference import crops as J
from NegativeVolumeSegmentationLib.training import label_crops as LC


def _image(array_zyx, spacing, origin, direction=None):
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def _ball(shape_zyx, spacing, origin, centre, radius):
    z, y, x = np.indices(shape_zyx).astype(float)
    p = np.stack([origin[0] + x * spacing[0], origin[1] + y * spacing[1], origin[2] + z * spacing[2]])
    return np.sum((p - np.asarray(centre, float)[:, None, None, None]) ** 2, axis=0) <= radius ** 2


@pytest.fixture(scope="module")
def analytic():
    return make_phantom("analytic", 7, spacing=(0.6, 0.7, 0.8))


@pytest.mark.parametrize("side", L.SIDES)
def test_crop_centred_on_the_truth_condyle_centre_has_the_condyle_at_its_centre(analytic, side):
    centre = np.array(analytic.truth[side]["condyle_center_lps_mm"])
    ct, classes = LC.crop_joint(analytic.ct, analytic.labels, centre, side, [41, 41, 41], [0.5] * 3)
    assert np.allclose(ct.GetDirection(), J.side_direction(side))
    arr = sitk.GetArrayFromImage(classes)
    # the voxel at the array centre is the crop centre in physical space
    mid = ct.TransformIndexToPhysicalPoint((20, 20, 20))
    assert np.allclose(mid, centre, atol=1e-6)
    # the condyle (class 1, a ball around the truth centre) has its centroid there
    centroid = LC.physical_centroid(classes, 1)
    assert np.linalg.norm(centroid - centre) < 0.25
    radius = analytic.truth["parameters"][side]["condyle_radius_mm"]
    volume = (arr == 1).sum() * 0.125
    assert volume == pytest.approx(4 / 3 * np.pi * radius ** 3, rel=0.06)
    assert (arr == 2).any()  # the temporal-bone cap above it
    # TB lies above the condyle (LPS +z superior) in the crop's physical frame
    assert LC.physical_centroid(classes, 2)[2] > centroid[2]
    hu = sitk.GetArrayFromImage(ct)
    assert hu[arr == 1].mean() > 900 and hu[arr == 0].mean() < 600


def test_head_phantom_crop_is_centred_on_the_condyle():
    phantom = make_phantom("head", 5, fov="cbct", spacing=(1.0, 1.0, 1.0))
    sides = [s for s in L.SIDES if phantom.truth[s]]
    assert sides
    for side in sides:
        centre = np.array(phantom.truth[side]["condyle_center_lps_mm"])
        _, classes = LC.crop_joint(phantom.ct, phantom.labels, centre, side, [80, 80, 80],
                                   [0.5] * 3)
        # truth centre = centroid of the implicit condyle; the crop's class-1 centroid from 1 mm
        # labels resampled at 0.5 mm agrees within a fraction of the CT voxel
        assert np.linalg.norm(LC.physical_centroid(classes, 1) - centre) < 0.5


def test_right_crop_mirrored_equals_left_geometry():
    """An image symmetric across x = 0 with a lateral bump on each condyle: both crops are equal."""
    spacing, n = (0.8, 0.9, 1.0), (141, 50, 40)
    origin = (-(n[0] - 1) / 2 * spacing[0], -20.0, -18.0)  # voxel centres symmetric about x = 0
    shape = n[::-1]
    lab = np.zeros(shape, np.uint8)
    for side, sign in ((L.LEFT, 1), (L.RIGHT, -1)):
        lab[_ball(shape, spacing, origin, (sign * 40, 2, 0), 6)] = L.CONDYLE[side]
        lab[_ball(shape, spacing, origin, (sign * 47, 2, 3), 2.5)] = L.CONDYLE[side]  # lateral bump
        tb = _ball(shape, spacing, origin, (sign * 40, 2, 1), 10) & ~_ball(shape, spacing, origin, (sign * 40, 2, 1), 8.5)
        tb &= _ball(shape, spacing, origin, (sign * 40, 2, 12), 9)
        lab[tb & (lab == 0)] = L.TEMPORAL_BONE[side]
    ct = np.where(lab > 0, 1300.0, 40.0).astype(np.float32)
    ct_img, lab_img = _image(ct, spacing, origin), _image(lab, spacing, origin)
    crops = {}
    for side, sign in ((L.LEFT, 1), (L.RIGHT, -1)):
        c, k = LC.crop_joint(ct_img, lab_img, (sign * 40, 2, 0), side, [37, 33, 29],
                             [0.7, 0.6, 0.5], offset_mm=(1.53, 0, 2))  # no nearest-neighbour ties
        crops[side] = (sitk.GetArrayFromImage(c), sitk.GetArrayFromImage(k))
    assert np.array_equal(crops[L.LEFT][1], crops[L.RIGHT][1])
    assert np.allclose(crops[L.LEFT][0], crops[L.RIGHT][0], atol=1e-3)
    # array x runs laterally for both: the bump sits at high x index
    bump_x = np.argwhere(crops[L.RIGHT][1] == 1)[:, 2]
    assert bump_x.max() > 18 + 6 / 0.7
    # and a plain (unmirrored) crop of the right joint would put it medially instead
    plain = LC.crop_classes(LC.side_classes(lab_img, L.RIGHT),
                            J.crop_reference((-38.47, 2, 2), L.LEFT, [37, 33, 29], [0.7, 0.6, 0.5]))
    assert not np.array_equal(sitk.GetArrayFromImage(plain), crops[L.LEFT][1])


def test_side_classes_keep_only_that_sides_structures():
    lab = _image(np.arange(8, dtype=np.uint8).reshape(2, 2, 2), (1, 1, 1), (0, 0, 0))
    left = sitk.GetArrayFromImage(LC.side_classes(lab, L.LEFT)).ravel().tolist()
    right = sitk.GetArrayFromImage(LC.side_classes(lab, L.RIGHT)).ravel().tolist()
    assert left == [0, 1, 0, 2, 0, 0, 0, 0]
    assert right == [0, 0, 1, 0, 2, 0, 0, 0]
    only_tb = sitk.GetArrayFromImage(
        LC.side_classes(lab, L.LEFT, ("temporal_bone",))).ravel().tolist()
    assert only_tb == [0, 0, 0, 1, 0, 0, 0, 0]


def test_crop_of_an_oblique_image_follows_physical_space():
    """A rotated, x-flipped CT grid: the crop still holds the ball at its centre."""
    angle = np.radians(25)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    direction = rot.dot(np.diag([-1.0, 1.0, 1.0]))
    shape, spacing = (40, 60, 60), (0.7, 0.7, 0.9)
    image = sitk.Image([60, 60, 40], sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetDirection(tuple(direction.ravel()))
    image.SetOrigin((10.0, -20.0, -15.0))
    idx = np.indices(shape).reshape(3, -1)[::-1].T * np.asarray(spacing)
    points = np.asarray(image.GetOrigin()) + idx.dot(direction.T)
    centre = points.mean(axis=0) + [1.3, -2.1, 0.7]
    lab = (np.linalg.norm(points - centre, axis=1) <= 7).reshape(shape).astype(np.uint8) * L.CONDYLE[L.RIGHT]
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    _, classes = LC.crop_joint(sitk.Cast(labels, sitk.sitkFloat32), labels, centre, L.RIGHT,
                               [31, 31, 31], [0.5] * 3)
    assert np.linalg.norm(LC.physical_centroid(classes, 1) - centre) < 0.2
    roi = LC.roi_around(labels, centre, 10.0)
    assert LC.physical_centroid(roi, L.CONDYLE[L.RIGHT]) is not None
    assert np.linalg.norm(LC.physical_centroid(roi, L.CONDYLE[L.RIGHT]) - centre) < 0.2


def _yaw_roll(yaw_deg, roll_deg):
    a, b = np.radians(yaw_deg), np.radians(roll_deg)
    yaw = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    roll = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return yaw.dot(roll)


def test_head_rotation_from_two_condyles_turns_lps_onto_the_head():
    from NegativeVolumeSegmentationLib.inference.joint_search import head_rotation

    # a head turned by a known yaw (12 deg about S); its condyles at +-50 mm in its own frame
    turn = _yaw_roll(12.0, 0.0)
    left, right = turn.dot([50.0, 3.0, -2.0]), turn.dot([-50.0, 3.0, -2.0])
    rotation = head_rotation(left, right)
    assert np.allclose(rotation, turn, atol=1e-9)
    # roll (about the posterior axis, the condyles at different heights) gives the lateral axis
    tilted = np.array([[np.cos(0.2), 0, -np.sin(0.2)], [0, 1, 0], [np.sin(0.2), 0, np.cos(0.2)]])
    rotation = head_rotation(tilted.dot([50.0, 0, 0]), tilted.dot([-50.0, 0, 0]))
    assert np.allclose(rotation[:, 0], tilted[:, 0], atol=1e-9)
    assert np.allclose(rotation.T.dot(rotation), np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    # not a pair: too close, too far, or turned by more than 30 degrees
    assert head_rotation([20.0, 0, 0], [-20.0, 0, 0]) is None
    assert head_rotation([80.0, 0, 0], [-80.0, 0, 0]) is None
    big = _yaw_roll(40.0, 0.0)
    assert head_rotation(big.dot([50.0, 0, 0]), big.dot([-50.0, 0, 0])) is None
    # a condyle found 15 mm high (other bone): the head's own axis, when known, turns the crops
    rotation = head_rotation(turn.dot([50.0, 3.0, 13.0]), right, head_lateral=turn[:, 0])
    assert np.allclose(rotation, turn, atol=1e-9)


@pytest.mark.parametrize("side", L.SIDES)
def test_turned_crop_sees_a_turned_head_as_an_upright_one(side):
    # the same off-centre ball around a joint, in a head turned by 12 deg yaw and 6 deg roll:
    # in the turned crop it lands on the same voxels as in the upright head's LPS crop
    turn = _yaw_roll(12.0, 6.0)
    joint = np.array([48.0 if side == L.LEFT else -48.0, 5.0, -3.0])
    offset = np.array([3.0, -2.0, 1.5])           # ball centre relative to the joint, head frame
    upright = J.crop_reference(J.crop_centre(joint, side, (1.0, 0.0, 0.0)), side, [21] * 3,
                               [0.5] * 3)
    turned = J.crop_reference(J.crop_centre(turn.dot(joint), side, (1.0, 0.0, 0.0), turn),
                              side, [21] * 3, [0.5] * 3, turn)
    assert np.allclose(np.reshape(turned.GetDirection(), (3, 3)),
                       turn.dot(np.reshape(J.side_direction(side), (3, 3))), atol=1e-12)
    a = np.array(upright.TransformPhysicalPointToContinuousIndex(tuple(joint + offset)))
    b = np.array(turned.TransformPhysicalPointToContinuousIndex(
        tuple(turn.dot(joint + offset))))
    assert np.allclose(a, b, atol=1e-9)
