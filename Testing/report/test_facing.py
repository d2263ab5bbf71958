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
        front, behind = facing.ear_canal_air(ct, sides[side]["condyle_center_lps_mm"],
                                            _lateral(sides))
        assert behind >= facing.FACE_AIR_MIN_MM3 and behind >= facing.FACE_RATIO * front, \
            (side, front, behind)
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
