"""The pair self-check on hand-placed condyles whose answer is known from the geometry alone."""

import math

import pytest

pytest.importorskip("torch", reason="torch is not installed (the check lives with inference)")

from NegativeVolumeSegmentationLib.inference.pair_check import (  # noqa: E402
    pair_reasons, stands_alone)
from NegativeVolumeSegmentationLib.inference.symmetry import Reflection  # noqa: E402


def side(x, y=230.0, z=1590.0, volume=1900.0):
    return {"condyle_center_lps_mm": [x, y, z], "condyle_volume_mm3": volume}


MID = 248.0  # LPS x of the midline; +x is the patient's left


def test_a_normal_pair_passes_also_when_the_head_is_turned_15_degrees():
    assert pair_reasons({"left": side(MID + 50), "right": side(MID - 50, volume=1840)},
                        MID) == ({"left": [], "right": []}, [])
    c, s = 50 * math.cos(math.radians(15)), 50 * math.sin(math.radians(15))
    turned = {"left": side(MID + c, 230 + s), "right": side(MID - c, 230 - s)}
    assert pair_reasons(turned, MID) == ({"left": [], "right": []}, [])


def test_a_condyle_at_the_midline_is_other_bone_and_only_that_side_fails():
    reasons, pair = pair_reasons({"left": side(MID + 50), "right": side(MID - 7)}, MID)
    assert reasons["left"] == [] and pair == []   # 57 mm apart, but the right is not a condyle
    assert len(reasons["right"]) == 1 and "7 mm lateral of the head's midline" in reasons["right"][0]
    across, pair = pair_reasons({"left": side(MID - 5), "right": side(MID - 50)}, MID)
    assert "5 mm across the head's midline" in across["left"][0] and across["right"] == []


@pytest.mark.parametrize("left_x, right_x, midline, words", [
    (MID + 30, MID - 30, MID, "60.0 mm apart"),            # too close for two TMJs
    (MID + 75, MID - 75, MID, "150.0 mm apart"),           # too far
    (MID + 75, MID - 30, MID, "midpoint is 22 mm off"),    # not mirror images
])
def test_an_implausible_pair_is_the_pairs_not_a_sides(left_x, right_x, midline, words):
    reasons, pair = pair_reasons({"left": side(left_x), "right": side(right_x)}, midline)
    assert any(words in r for r in pair) and reasons == {"left": [], "right": []}


def test_condyles_of_very_different_size_are_no_pair():
    _, pair = pair_reasons({"left": side(MID + 50, volume=3400), "right": side(MID - 50)}, MID)
    assert len(pair) == 1 and "1.8-fold" in pair[0]
    fine = pair_reasons({"left": side(MID + 50, volume=2200), "right": side(MID - 50)}, MID)
    assert fine == ({"left": [], "right": []}, [])  # 16 % apart: asymmetric, but a condyle


def test_without_a_midline_or_a_second_joint_only_what_can_be_checked_is():
    assert pair_reasons({"left": side(300.0), "right": None}, None) == (
        {"left": [], "right": []}, [])
    _, pair = pair_reasons({"left": side(300.0), "right": side(260.0)}, None)
    assert "40.0 mm apart" in pair[0]


def test_a_distance_just_under_the_limit_does_not_read_as_the_limit():
    """74.8 mm read "75 mm apart (75-130 mm expected)" (a small head in a review, 2026-12-07)."""
    sides = dict((side, {"condyle_center_lps_mm": [x, 0.0, 0.0], "condyle_volume_mm3": 1500.0})
                 for side, x in (("left", 37.4), ("right", -37.4)))
    _, pair = pair_reasons(sides, 0.0)
    assert pair == ["the two joints found are 74.8 mm apart (75-130 mm expected)"]


def test_the_head_confirms_a_condyle_35_to_65_mm_from_its_plane():
    """stands_alone: a condyle's centre 40-60 mm from the head's mid-sagittal plane (5 mm to
    spare), measured along the plane's normal, whatever the head's turn; no plane, no word."""
    turn = math.radians(30.0)
    plane = Reflection([math.cos(turn), math.sin(turn), 0.0], 10.0, 0.95)   # n . p = 10 mm
    for offset, confirmed in ((47.0, True), (-47.0, True), (36.0, True), (-64.0, True),
                              (30.0, False), (-70.0, False), (10.0, False)):
        point = (10.0 + offset) * plane.normal + [-20.0 * math.sin(turn), 20.0 * math.cos(turn), 5.0]
        values = {"condyle_center_lps_mm": [float(v) for v in point]}
        assert stands_alone(values, plane) is confirmed, offset
    assert stands_alone({"condyle_center_lps_mm": [47.0, 0.0, 0.0]}, None) is False
