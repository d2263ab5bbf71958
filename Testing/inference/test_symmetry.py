"""The head's own mirror symmetry (inference/symmetry.py) on an analytic head.

The head is a soft-tissue ellipsoid with a bony shell, two "joints" (dense balls) at x = +-45 mm
and a midline "nose" in front, symmetric about its own sagittal plane only. It is turned by a
known rotation in the scanner; the truth is where each ball went (the rotation written out
here). The reflection found must map one joint onto the other and the nose onto itself. And
the real head of ../shared, whose untouched plane is the truth for a damaged copy of it.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.inference import symmetry

SPACING = 2.0                  # mm
HALF_EXTENT = 110.0            # the grid spans +-110 mm about the origin, all axes
HEAD = (75.0, 95.0, 85.0)      # ellipsoid semi-axes (mm)
JOINT = np.array([45.0, 15.0, -10.0])   # left joint (LPS mm, head frame); right: x negated
NOSE = np.array([0.0, -85.0, -20.0])
BALL_MM = 9.0
TOLERANCE_MM = 4.0             # the search runs on 6 mm voxels
# the real head of ../shared: its condyle centres (LPS mm; docs/results.md, the untouched scan;
# within 0.4 mm of the centroids of outlines checked by eye, test_localize_real.py)
REAL_CONDYLES_LPS_MM = {"left": (298.3, 232.1, 1593.9), "right": (198.3, 227.9, 1595.0)}
REAL_PAIR_MM = 2.0             # a condyle's mirror image vs the other condyle's centre


def rotation(yaw_deg, pitch_deg):
    """Turn about the vertical axis (z), then nod about the left-right axis (x)."""
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    return rx @ rz


def turned_head(rot):
    """int16 HU image of the head turned by ``rot`` (LPS, identity direction)."""
    axis = np.arange(-HALF_EXTENT, HALF_EXTENT + 1e-6, SPACING)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    points = np.stack([x, y, z], axis=-1) @ rot   # each voxel in the head's own frame
    hx, hy, hz = points[..., 0], points[..., 1], points[..., 2]
    radius = np.sqrt((hx / HEAD[0]) ** 2 + (hy / HEAD[1]) ** 2 + (hz / HEAD[2]) ** 2)
    hu = np.full(x.shape, -1000.0)
    hu[radius <= 1.0] = 40.0
    hu[(radius > 0.92) & (radius <= 1.0)] = 900.0            # skull
    for centre in (JOINT, JOINT * [-1, 1, 1], NOSE):
        hu[np.linalg.norm(points - centre, axis=-1) <= BALL_MM] = 1200.0
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing((SPACING,) * 3)
    image.SetOrigin((-HALF_EXTENT,) * 3)
    return image


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (30.0, 0.0), (-40.0, 10.0), (45.0, -15.0)])
def test_the_reflection_maps_each_joint_onto_the_other(yaw, pitch):
    rot = rotation(yaw, pitch)
    reflection = symmetry.head_reflection(turned_head(rot))
    assert reflection is not None
    left, right, nose = rot @ JOINT, rot @ (JOINT * [-1, 1, 1]), rot @ NOSE
    assert np.linalg.norm(reflection(left) - right) <= TOLERANCE_MM
    assert np.linalg.norm(reflection(right) - left) <= TOLERANCE_MM
    assert np.linalg.norm(reflection(nose) - nose) <= TOLERANCE_MM


def test_the_reflection_beats_the_plane_mirror_on_a_turned_head():
    """What the reflection is for: across the grid's mid-plane x = 0 the head turned by 30
    degrees has its left joint's partner ~45 mm from its right joint (the search around a missed
    joint covers +-24 mm); across the reflection found, within the tolerance."""
    rot = rotation(30.0, 0.0)
    left, right = rot @ JOINT, rot @ (JOINT * [-1, 1, 1])
    assert np.linalg.norm(left * [-1, 1, 1] - right) > 40.0
    reflection = symmetry.head_reflection(turned_head(rot))
    assert reflection is not None
    assert np.linalg.norm(reflection(left) - right) <= TOLERANCE_MM
    assert np.linalg.norm(reflection(right) - left) <= TOLERANCE_MM


def test_a_slab_of_a_few_slices_has_no_plane_and_no_error():
    """A field of view 10 mm deep (a slab through the joints): no head to mirror, and no ITK
    error from smoothing a copy under 4 voxels deep (the plane runs on every CT)."""
    image = turned_head(rotation(0.0, 0.0))
    for depth in (1, 5):
        slab = image[:, :, 55:55 + depth]
        assert symmetry.head_reflection(slab) is None


def test_no_reflection_without_a_symmetric_head():
    """Uncorrelated noise in the field of view: no symmetry is claimed."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 600.0, (60, 60, 60)).astype(np.int16)
    image = sitk.GetImageFromArray(noise)
    image.SetSpacing((3.0, 3.0, 3.0))
    assert symmetry.head_reflection(image) is None



def test_a_slab_of_water_out_to_the_edge_does_not_hide_the_real_heads_plane(real_head_ct_path):
    """The real head of ../shared with the 9 slices through its left joint (LPS z 1592-1600 mm,
    around the left condyle's centre at z 1594) set to 0 HU from x = 249 mm (the condyles'
    midpoint) out to the image's edge (a damaged series): the water outside the head moved the
    mean of the head's voxels 7 mm to the left, and the search, through that point, settled on a
    plane 5 degrees tilted (correlation 0.77: "no symmetric head"; with the slab one slice
    thicker and one column wider it had found the plane: the search's start decided). Truth:
    the head's condyle centres: each one's mirror image lies on the other, and stays where the
    untouched scan's plane put it."""
    scan = sitk.ReadImage(real_head_ct_path)
    untouched = symmetry.head_reflection(scan)
    hu = sitk.GetArrayFromImage(scan)
    size = scan.GetSize()
    xs = np.array([scan.TransformIndexToPhysicalPoint((i, 0, 0))[0] for i in range(size[0])])
    zs = np.array([scan.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(size[2])])
    hu[np.ix_((zs >= 1591.5) & (zs <= 1600.5), np.ones(size[1], bool), xs > 248.5)] = 0
    blanked = sitk.GetImageFromArray(hu)
    blanked.CopyInformation(scan)
    reflection = symmetry.head_reflection(blanked)
    assert reflection is not None
    for condyle in REAL_CONDYLES_LPS_MM.values():
        assert np.linalg.norm(reflection(condyle) - untouched(condyle)) <= 1.0
    # and each condyle onto the other one (the untouched plane: 0.9 mm); across the grid's
    # mid-plane x = 254.5 mm, a head lying a little turned, 13.1 mm
    left, right = (np.asarray(REAL_CONDYLES_LPS_MM[s]) for s in ("left", "right"))
    for found in (reflection, untouched):
        assert np.linalg.norm(found(left) - right) <= REAL_PAIR_MM
        assert np.linalg.norm(found(right) - left) <= REAL_PAIR_MM
    centre_x = scan.TransformContinuousIndexToPhysicalPoint([0.5 * (size[0] - 1), 0.0, 0.0])[0]
    assert np.linalg.norm(left * [-1, 1, 1] + [2 * centre_x, 0, 0] - right) > 3 * REAL_PAIR_MM


def test_only_the_tissue_near_the_joints_level_is_mirrored_when_it_is_known():
    """A head above a large lopsided block of tissue (a trunk, a shoulder on the table): the
    whole field of view is no mirror image of itself, the head's part around the joints' level
    is. (What it is for: a scan of the head, neck and trunk took 4.7 s, a whole body 26 s.)"""
    s = 4.0
    axis_xy = np.arange(-200.0, 200.0 + 1e-6, s)
    axis_z = np.arange(-300.0, 200.0 + 1e-6, s)
    z, y, x = np.meshgrid(axis_z, axis_xy, axis_xy, indexing="ij")
    lift = np.array([0.0, 0.0, 100.0])                       # the head's centre at z = 100
    points = np.stack([x, y, z], axis=-1) - lift
    radius = np.sqrt(sum((points[..., i] / HEAD[i]) ** 2 for i in range(3)))
    hu = np.full(x.shape, -1000.0)
    hu[radius <= 1.0] = 40.0
    hu[(radius > 0.92) & (radius <= 1.0)] = 900.0
    for centre in (JOINT, JOINT * [-1, 1, 1], NOSE):
        hu[np.linalg.norm(points - centre, axis=-1) <= BALL_MM] = 1200.0
    hu[(z < -60.0) & (x > -40.0) & (np.abs(y) < 120.0)] = 40.0     # lopsided: mostly on the left
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing((s, s, s))
    image.SetOrigin((-200.0, -200.0, -300.0))
    left, right = JOINT + lift, JOINT * [-1, 1, 1] + lift
    whole = symmetry.head_reflection(image)
    assert whole is None or np.linalg.norm(whole(left) - right) > TOLERANCE_MM
    reflection = symmetry.head_reflection(image, level_z=float(left[2]))
    assert reflection is not None
    assert np.linalg.norm(reflection(left) - right) <= TOLERANCE_MM
    assert np.linalg.norm(reflection(right) - left) <= TOLERANCE_MM
