"""Which way the face points (quality/facing.py): a head whose header turns it 180 degrees about
the vertical axis (a prone scan labelled supine) is not measurable, the same head as drawn is.

Truth: the head phantoms' drawn condyle centres and ear canals, and a known transform (the
header turned, the voxels unchanged). Measured: the phantoms (seed 5, mouth closed; 100011, mouth
open, its condyles ~10 mm forwards on the eminences) read 0-151 mm3 of air in front of each
condyle and 619-1937 behind; turned, the other way round.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.engine.air import AIR_HU
from NegativeVolumeSegmentationLib.phantom import make_phantom
from NegativeVolumeSegmentationLib.quality import facing

TURN = np.diag([-1.0, -1.0, 1.0])   # 180 degrees about LPS z


@pytest.fixture(scope="module", params=[5, 100011])
def head(request):
    phantom = make_phantom("head", seed=request.param, fov="head")
    sides = dict((side, {"condyle_center_lps_mm": phantom.truth[side]["condyle_center_lps_mm"]})
                 for side in L.SIDES)
    return phantom.ct, sides


def _turned(ct, sides):
    """The same voxels with the header turned 180 degrees about the vertical axis: the
    patient's left now lies at the header's right (the sides swap names)."""
    out = sitk.Image(ct)
    out.SetOrigin([float(v) for v in TURN @ np.asarray(ct.GetOrigin())])
    out.SetDirection([float(v) for v in (TURN @ np.asarray(ct.GetDirection()).reshape(3, 3)).ravel()])
    moved = dict((L.other_side(side), {"condyle_center_lps_mm": list(
        TURN @ np.asarray(values["condyle_center_lps_mm"]))}) for side, values in sides.items())
    return out, moved


def _lateral(sides):
    axis = (np.asarray(sides["left"]["condyle_center_lps_mm"])
            - np.asarray(sides["right"]["condyle_center_lps_mm"]))
    return axis / np.linalg.norm(axis)


def test_a_head_as_drawn_faces_forwards(head):
    ct, sides = head
    for side in L.SIDES:
        front, behind, inside = facing.ear_canal_air(ct, sides[side]["condyle_center_lps_mm"],
                                                    _lateral(sides))
        assert behind >= facing.FACE_AIR_MIN_MM3 and behind >= facing.FACE_RATIO * front, \
            (side, front, behind)
        assert inside == 1.0
    assert facing.facing_reason(ct, sides) is None


def test_a_head_turned_180_degrees_is_not_measurable(head):
    ct, sides = _turned(*head)
    reason = facing.facing_reason(ct, sides)
    assert reason is not None and reason.startswith("the face points backwards"), reason
    assert "at the header's left / right" in reason


def test_one_joint_decides_when_the_other_has_no_canal_in_reach(head):
    """A scan of one joint (the other side's condyle not found): that joint's canal decides."""
    ct, sides = head
    one = {"left": sides["left"], "right": None}
    assert facing.facing_reason(ct, one) is None
    turned, moved = _turned(ct, sides)
    reason = facing.facing_reason(turned, {"left": None, "right": moved["right"]})
    assert reason is not None and "at the header's right " in reason, reason


def test_no_air_near_either_joint_says_nothing(head):
    """Ear canals filled (fluid, wax) or outside the field of view: no cue, no verdict; the
    check never withholds a joint for want of air."""
    ct, sides = head
    array = sitk.GetArrayFromImage(ct)
    array[array < AIR_HU] = 40           # every air voxel made soft tissue
    filled = sitk.GetImageFromArray(array)
    filled.CopyInformation(ct)
    assert facing.facing_reason(filled, sides) is None
    turned, moved = _turned(filled, sides)
    assert facing.facing_reason(turned, moved) is None


def _painted(ct, sides, offsets_mm, radius_mm, hu):
    """A copy of ``ct`` with balls of ``hu`` of ``radius_mm`` at ``offsets_mm`` (lateral,
    posterior, superior; the lateral towards each side's outside) from each condyle's centre."""
    array = sitk.GetArrayFromImage(ct)
    k, j, i = np.indices(array.shape)
    index = np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float)
    matrix = np.asarray(ct.GetDirection()).reshape(3, 3) * np.asarray(ct.GetSpacing())
    points = (index @ matrix.T + np.asarray(ct.GetOrigin())).reshape(array.shape + (3,))
    frame = facing.joint_frame(_lateral(sides))
    for side in L.SIDES:
        centre = np.asarray(sides[side]["condyle_center_lps_mm"], float)
        sign = 1.0 if side == L.LEFT else -1.0
        for m, p, up in offsets_mm:
            where = centre + np.array([sign * m, p, up]) @ frame
            array[np.linalg.norm(points - where, axis=-1) <= radius_mm] = hu
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(ct)
    return out


def test_air_cells_in_the_eminences_with_the_canals_filled_do_not_turn_a_head(head):
    """An air cell 8 mm across in each articular eminence (a pneumatised eminence, ~268 mm3)
    with the ear canals and mastoids filled (fluid; here every air voxel of the head made soft
    tissue): the box behind holds no air, the one in front an air cell, not a canal. Before a
    review it read "turned" on any 100 mm3 in front (the real head so changed: 111 in front, 0
    behind, both sides) and refused the scan."""
    ct, sides = head
    array = sitk.GetArrayFromImage(ct)
    array[array < AIR_HU] = 40
    filled = sitk.GetImageFromArray(array)
    filled.CopyInformation(ct)
    cells = _painted(filled, sides, [(0.0, -11.0, 3.0)], 4.0, -1000)
    for side in L.SIDES:
        front, behind, _inside = facing.ear_canal_air(
            cells, sides[side]["condyle_center_lps_mm"], _lateral(sides))
        assert facing.FACE_AIR_MIN_MM3 <= front < facing.CANAL_AIR_MIN_MM3 and behind == 0, \
            (side, front, behind)
    assert facing.facing_reason(cells, sides) is None


def test_a_field_of_view_ending_behind_the_condyles_hides_the_canal_and_says_nothing(head):
    """The image ends 8 mm behind the condyles' centres (a CBCT framed on the joints): the box
    behind is mostly outside, its air unknown; 268 mm3 of air in front (an air cell in each
    eminence) must not outvote it. A turned head so framed is not refused either (documented)."""
    ct, sides = head
    cells = _painted(ct, sides, [(0.0, -11.0, 3.0)], 4.0, -1000)
    back = max(sides[side]["condyle_center_lps_mm"][1] for side in L.SIDES) + 8.0
    direction = np.asarray(ct.GetDirection()).reshape(3, 3)
    assert np.allclose(np.abs(direction), np.eye(3)), "the phantom's axes are LPS's"
    rows = int((back - ct.GetOrigin()[1]) / ct.GetSpacing()[1]) if direction[1, 1] > 0 else None
    cut = cells[:, :rows, :]
    assert facing.facing_reason(cut, sides) is None


def test_a_condyle_not_seated_in_its_fossa_does_not_vote(head):
    """Mouth open, the condyle on its eminence: the canal lies 25-35 mm behind it, out of the
    box. A turned head whose condyles both ride on their eminences gives no verdict."""
    turned, moved = _turned(*head)
    assert facing.facing_reason(turned, moved) is not None
    for side in L.SIDES:
        moved[side]["joint_bounds"] = {"on_eminence": True}
    assert facing.facing_reason(turned, moved) is None
