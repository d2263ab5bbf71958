"""One thickness colour scale for every picture (report/thickness_colors.py): its documented
stops (red thin, yellow 1.5 mm, green 3 mm, blue from 5 mm, grey without contact)."""

import numpy as np
import pytest

from NegativeVolumeSegmentationLib.report import thickness_colors as C

YELLOW, GREEN, BLUE = (0.95, 0.85, 0.1), (0.2, 0.75, 0.25), (0.15, 0.35, 0.9)
RED, GREY = (0.85, 0.1, 0.1), (0.6, 0.6, 0.6)


def test_colours_at_the_stops_between_them_and_beyond():
    got = C.rgb([1.5, 3.0, 5.0, 12.0, 2.25, 0.0, -1.0, np.nan])
    np.testing.assert_allclose(got[0], YELLOW)
    np.testing.assert_allclose(got[1], GREEN)
    np.testing.assert_allclose(got[2], BLUE)
    np.testing.assert_allclose(got[3], BLUE)  # clamped: 5 mm and more are blue
    np.testing.assert_allclose(got[4], 0.5 * (np.array(YELLOW) + np.array(GREEN)))
    for row in got[5:]:  # no contact (0), and nothing that is not a thickness
        np.testing.assert_allclose(row, GREY)


def test_slicer_uses_the_same_scale():
    """Slicer's colour transfer function holds the documented stops (docs/slicer.md, "The
    thickness colour map"): grey at 0 (no contact), red for a thin joint space, yellow at
    1.5 mm, green at 3 mm, blue at 5 mm."""
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from NegativeVolumeSegmentationLib.scene.mrml_bridge import THICKNESS_COLORS

    documented = ((0.0, GREY), (0.05, RED), (1.5, YELLOW), (3.0, GREEN), (5.0, BLUE))
    assert [value for value, _ in THICKNESS_COLORS] == pytest.approx([v for v, _ in documented])
    for (_, rgb), (value, expected) in zip(THICKNESS_COLORS, documented):
        np.testing.assert_allclose(rgb, expected, err_msg="%g mm" % value)
