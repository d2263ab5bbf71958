"""The gate's cautions are about numbers kept (quality/__init__.py, gate_measured): none for
sides withheld, and the advice to compare the sides only when both are kept. Inputs: box joints
(box_joints.py) whose answer is known from how they were built."""

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib import pipeline, quality

from box_joints import _grid, _joint, _labels


def test_no_caution_is_left_for_numbers_withheld():
    """Both joints' bones touching on 1 mm pixels: nothing is measured, so the grid's caution
    ("in-plane pixels 1 x 1 mm: negative volume uncertain by up to ~5 %") is about no number
    and is dropped (before, report.png showed it in orange over two "not measurable" sides)."""
    array, x, y, z, ref = _grid(size_mm=(120.0, 40.0, 40.0))
    _joint(array, x, y, z, L.LEFT, cx=30.0, gap=0.0)
    _joint(array, x, y, z, L.RIGHT, cx=-30.0, gap=0.0)
    labels = _labels(array, ref)
    labels.SetSpacing([1.0, 1.0, 1.0])
    assert quality.check_grid(labels).cautions          # the grid alone would caution
    rep = pipeline.measure_labels(labels).report
    assert rep["left"] is None and rep["right"] is None
    assert "touch" in rep["quality"]["left"]["reason"]
    assert rep["cautions"] == []


def test_a_grid_caution_asks_for_a_comparison_only_with_two_sides_kept():
    """On 1 mm pixels the caution says to compare left with right on this scan only; with one
    side kept (the other's bones touching) there is nothing to compare with, and it says only
    how uncertain the number is (a review read the advice on a one-joint CBCT)."""
    array, x, y, z, ref = _grid(size_mm=(120.0, 40.0, 40.0))
    _joint(array, x, y, z, L.LEFT, cx=30.0)
    _joint(array, x, y, z, L.RIGHT, cx=-30.0)
    labels = _labels(array, ref)
    labels.SetSpacing([1.0, 1.0, 1.0])
    both = pipeline.measure_labels(labels).report
    assert both["left"] and both["right"]
    assert [c for c in both["cautions"] if "in-plane pixels" in c][0].endswith(
        "compare left with right on this scan only")
    _joint(array, x, y, z, L.RIGHT, cx=-30.0, gap=0.0)   # the right bones now touch
    labels = _labels(array, ref)
    labels.SetSpacing([1.0, 1.0, 1.0])
    one = pipeline.measure_labels(labels).report
    assert one["left"] and one["right"] is None
    assert [c for c in one["cautions"] if "in-plane pixels" in c] == [
        "in-plane pixels 1 x 1 mm (over 0.8 mm): negative volume uncertain by up to ~5 %"]
