"""Which way the face points: a check of the quality gate (:mod:`.quality`, docs/method.md
"Quality gate"), per case, on the CT (HU) and the condyles found.

Left and right are read from the image's geometry (its direction cosines): a patient scanned
prone whose header says supine (or any header turned 180 degrees about the vertical axis) has
its face pointing posterior in the header's frame and its left at the header's right. The
localiser and the crops read the left-right axis only, so such a head was measured with its
sides swapped and no word (the real head turned so: NV -4.8 / -2.1 %, condyle -8.4 / -2.7 %
against the same anatomical sides, its anterior and posterior spaces exchanged).

The cue is the external ear canal: air directly behind each condylar head (the bony meatus
lies behind the postglenoid process, the mastoid's air cells behind it), and none in front of it
within reach (the articular eminence, the zygomatic arch, the masticator space: bone and soft
tissue). Measured in the joint's frame (:func:`.engine.joint_bounds.joint_frame`: lateral,
posterior, superior) in a box 24 mm wide, 23 mm tall (15 below the condyle's centre to 8 above),
from 3 to 30 mm in front of the centre and from 3 to 30 mm behind it, sampled every 1 mm
(each sample 1 mm^3): the real head of ../shared reads 0 mm^3 of air in front of either condyle
and 1169 / 1140 mm^3 behind (left / right); the head phantoms (seeds 3, 5, 100010, 100011 (mouth
open: its condyles ~10 mm forwards), 100013) 0-151 in front and 619-1937 behind. Turned, the
real head reads 1181 / 1170 in front and 0 behind (benchmarks/real_ct_probes.py,
``turned_180``). A side votes "turned" when the air in front is canal-sized (at least
CANAL_AIR_MIN_MM3) and FACE_RATIO times that behind, with at least BEHIND_INSIDE_MIN of the box
behind inside the image; "as the header says" when the air behind is at least FACE_AIR_MIN_MM3
and FACE_RATIO times that in front; else not at all (an ear canal filled or out of the field
of view, a pneumatised eminence), nor does a condyle not seated in its fossa (mouth open: the
canal then lies 25-35 mm behind it). The case is turned when a side votes so and none the
other way. A review (2026-12-07) had oriented heads vote "turned" on 106-403 mm^3 in front (an
air cell in each eminence with the canals filled, or cut off by a field of view ending behind
the condyles; the box of a condyle 15-24 mm forwards) when any 100 mm^3 in front could.
Such a case is not measurable as a whole (report.json's ``quality.scan``: its sides cannot be
told, so no side-named number, segment or picture is given); the reason says how to correct it.
Lengths in mm, volumes in mm^3, points in LPS mm. numpy + SimpleITK only.
"""

import numpy as np

from .. import labels as L
from ..engine.air import AIR_HU
from ..engine.joint_bounds import joint_frame, joints_axis

LATERAL_HALF_MM = 12.0      # the box across the condyle's centre: its poles are ~10 mm out
BELOW_MM, ABOVE_MM = 15.0, 8.0   # the meatus lies at the condylar head's height or under it
REACH_MM = (3.0, 30.0)      # in front of / behind the centre: the condyle's half-depth is ~5 mm,
                            # the meatus 10-20 mm behind it (mouth open: 20-30 mm)
STEP_MM = 1.0               # sample spacing: each sample counts 1 mm^3
FACE_AIR_MIN_MM3 = 100.0    # "as read" needs at least this much air behind (a canal 7 mm across,
                            # 3 mm long) ...
FACE_RATIO = 4.0            # ... and this many times the air on the other side of the condyle
CANAL_AIR_MIN_MM3 = 400.0   # "turned" needs canal-sized air in front: turned heads read 980-1900
                            # (up to 60 degrees of yaw or roll; 620-810 with the mouth open),
                            # oriented heads with the canals filled or out of reach 106-403 (an
                            # air cell 6-8 mm across in the eminence 113-268, a sinus, the skin)
BEHIND_INSIDE_MIN = 0.75    # ... and this much of the box behind inside the image: a field of
                            # view ending behind the condyle hides the canal, and 0 behind
                            # would let any air in front outvote it


def _samples(ct, centre, frame, p_range):
    """(HU of ``ct`` (nearest voxel) on the box's samples inside the image, the fraction of the
    samples inside) for the posterior offsets ``p_range`` (mm, in the joint's frame) from the
    condyle's ``centre`` (LPS mm)."""
    m = np.arange(-LATERAL_HALF_MM, LATERAL_HALF_MM + 1e-9, STEP_MM)
    p = np.arange(p_range[0], p_range[1] + 1e-9, STEP_MM)
    s = np.arange(-BELOW_MM, ABOVE_MM + 1e-9, STEP_MM)
    grid = np.stack(np.meshgrid(m, p, s, indexing="ij"), axis=-1).reshape(-1, 3)
    points = np.asarray(centre, float) + grid @ frame
    to_index = np.linalg.inv(np.asarray(ct.GetDirection(), float).reshape(3, 3)
                             * np.asarray(ct.GetSpacing(), float))
    ijk = np.rint((points - np.asarray(ct.GetOrigin(), float)) @ to_index.T).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(ct.GetSize())), axis=1)
    ijk = ijk[inside]
    from SimpleITK import GetArrayViewFromImage

    return GetArrayViewFromImage(ct)[ijk[:, 2], ijk[:, 1], ijk[:, 0]], float(inside.mean())


def ear_canal_air(ct, centre, lateral):
    """(air in front of, air behind the condyle whose centre is ``centre`` (LPS mm), in mm^3;
    the fraction of the box behind it inside the image), with ``lateral`` the joints'
    left-right axis (LPS, towards the patient's left)."""
    frame = joint_frame(lateral)
    front, _ = _samples(ct, centre, frame, (-REACH_MM[1], -REACH_MM[0]))
    behind, inside = _samples(ct, centre, frame, REACH_MM)
    cube = STEP_MM ** 3
    return (float(np.count_nonzero(front < AIR_HU)) * cube,
            float(np.count_nonzero(behind < AIR_HU)) * cube, inside)


def _vote(front, behind, inside):
    if (front >= CANAL_AIR_MIN_MM3 and front >= FACE_RATIO * behind
            and inside >= BEHIND_INSIDE_MIN):
        return "turned"
    if behind >= FACE_AIR_MIN_MM3 and behind >= FACE_RATIO * front:
        return "as read"
    return None


def facing_reason(ct, sides, head_lateral=None):
    """The case's reason for "not measurable" when its face points posterior in the image's
    frame (a prone scan labelled supine), else None.

    Args:
        ct: the CT in HU (SimpleITK image; read only near the condyles).
        sides: {side: values or None}, values holding ``condyle_center_lps_mm`` and
            ``joint_bounds`` (the engine's): a condyle not seated in its fossa (mouth open: the
            canal then lies 25-35 mm behind it, out of the box) does not vote.
        head_lateral: the head's own left-right axis (its mid-sagittal plane's normal), if known.
    """
    centres = {side: (sides.get(side) or {}).get("condyle_center_lps_mm") for side in L.SIDES}
    found = [side for side in L.SIDES if centres[side] is not None]
    if ct is None or not found:
        return None
    lateral, _ = joints_axis(centres["left"], centres["right"], head_lateral)
    lateral = lateral if lateral[0] >= 0 else -lateral   # towards the header's left
    air = {side: ear_canal_air(ct, centres[side], lateral) for side in found}
    votes = {}
    for side in found:
        seated = not ((sides[side].get("joint_bounds") or {}).get("on_eminence"))
        votes[side] = _vote(*air[side]) if seated else None
    turned = [side for side in found if votes[side] == "turned"]
    if not turned or "as read" in votes.values():
        return None
    said = " / ".join(side for side in found)
    front = " / ".join("%.0f" % air[side][0] for side in found)
    behind = " / ".join("%.0f" % air[side][1] for side in found)
    return ("the face points backwards in the image's frame (ear-canal air in front of the "
            "condyles at the header's %s %s mm3, behind them %s): a prone scan labelled supine? "
            "Left and right cannot be told; correct the patient position and measure again"
            % (said, front, behind))
