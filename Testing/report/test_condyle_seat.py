"""A condyle on its articular eminence (mouth open) keeps its numbers with a caution; a closed
mouth gets none (quality.seat_caution, engine/joint_bounds.JointBounds.on_eminence).

Independent truths:
- the head phantom's implicit geometry: its truth reports how far the condylar head's centre lies
  behind the eminence crest, from exact surface samples (no voxels, no meshes), for a mouth drawn
  open (condyles glided onto the eminences) or closed;
- the real dental CBCT label map of ../shared with its condyles moved by a known opening
  (benchmarks/open_mouth.py: turned chin-down, glided forwards, lowered clear of the real
  temporal bone, which stays): the head's centre moves forwards by what the transform moves it,
  the crest stays (measured: within 0.12 mm up to a 12 mm glide, docs/method.md "A condyle on
  its eminence").
"""

import numpy as np
import pytest

from NegativeVolumeSegmentationLib import pipeline
from NegativeVolumeSegmentationLib.options import RunOptions
from NegativeVolumeSegmentationLib.report.figure import table_cells

SEAT = "the condyle is not seated in its fossa"


def _seat_cautions(report):
    return {side for side in ("left", "right")
            if any(c.startswith(side + " side: " + SEAT) for c in report["cautions"])}


@pytest.mark.parametrize("seed", [0, 6])
def test_a_phantom_with_its_mouth_open_cautions_and_closed_does_not(seed, cbct_joint_phantom):
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    side, closed = cbct_joint_phantom(seed)
    opened = make_phantom("head", seed=seed, fov="cbct-" + side, mouth="open",
                          spacing=(0.5,) * 3, nv_step_mm=0.4)
    for phantom, on_eminence in ((closed, False), (opened, True)):
        truth = phantom.truth[side]["head_behind_eminence_mm"]
        assert (truth < 4.0) is on_eminence, truth        # the phantom is what it says
        report = pipeline.measure_labels(phantom.labels).report
        values = report[side]
        assert values is not None and values["negative_volume_mm3"] > 0  # numbers kept
        assert values["joint_bounds"]["head_behind_eminence_mm"] == pytest.approx(truth, abs=1.0)
        assert _seat_cautions(report) == ({side} if on_eminence else set()), report["cautions"]


def test_the_real_condyles_glided_onto_their_eminences(real_anatomy, open_mouth_benchmark):
    """The real map as it is: 12.7 mm from head to crest, no caution. Glided 4 mm forwards
    (turned 10 degrees): still in the fossa, no caution, the distance 4 mm less (as the
    transform moves the head). Glided 12 mm (25 degrees): on the crest, both sides caution, in
    mode paper too (the caution is the scan's, not the mode's)."""
    _script, labels = real_anatomy
    original = pipeline.measure_labels(labels).report
    assert _seat_cautions(original) == set()
    behind = {side: original[side]["joint_bounds"]["head_behind_eminence_mm"]
              for side in ("left", "right")}
    assert min(behind.values()) > 10.0
    for forward, cautioned in ((4.0, set()), (12.0, {"left", "right"})):
        moved, info = open_mouth_benchmark.open_mouth(labels, forward)
        report = pipeline.measure_labels(moved).report
        assert _seat_cautions(report) == cautioned, (forward, report["cautions"])
        nv_row = table_cells(report)[0][0]     # report.png: NV asymmetry not flagged when open
        assert ("not flagged (mouth open?)" in nv_row[3]) is bool(cautioned), nv_row
        for side, value in (("left", 1), ("right", 2)):
            expected = behind[side] + info["head_moved_mm"][value][1]   # LPS +y: posterior
            got = report[side]["joint_bounds"]["head_behind_eminence_mm"]
            assert got == pytest.approx(expected, abs=0.5), (forward, side)
            assert report[side]["negative_volume_mm3"] > 0
    paper = pipeline.measure_labels(moved, RunOptions(mode="paper")).report   # the scan's, too
    assert _seat_cautions(paper) == {"left", "right"}


def test_flat_bone_over_a_condyle_is_no_eminence():
    """No crest below the fossa apex (a flat bone over the condyle): never "on its eminence",
    however close the bone's front edge (the box joints of test_quality_gate.py)."""
    from NegativeVolumeSegmentationLib.engine.joint_bounds import JointBounds, joint_frame

    frame = joint_frame([1.0, 0.0, 0.0])
    g = np.mgrid[-5:5.1:0.5, -4:4.1:0.5].reshape(2, -1).T        # (x, y) mm
    condyle = np.column_stack([g, np.full(len(g), 0.0)])          # top at z = 0
    plate = np.column_stack([g[:, 0], g[:, 1] - 1.0, np.full(len(g), 2.0)])  # 1 mm to the front
    bounds = JointBounds(frame, condyle, plate, plate[::3])
    assert bounds.summary()["head_behind_eminence_mm"] < 4.0   # its front edge is near
    assert not bounds.on_eminence
