"""Ikeda's superior / anterior / posterior joint spaces against closed-form truth.

A sphere condyle (radius r) under a spherical fossa (inner radius R) whose centre is offset
from the condyle's by ``c`` (mm: posterior LPS +y, superior +z), so the joint space varies along
the condyle. The temporal bone is the shell R..R+3 mm within 95 degrees of superior around the
fossa's centre. In the central sagittal plane, with the fossa apex S (its highest point,
c + R z) and a unit normal n on the condyle, the ray from r n along n meets the fossa at
t = c.n + sqrt(R^2 - |c|^2 + (c.n)^2) - r (Ikeda's spaces as this engine reads them: h along the
normal). The tangent points from S: n at the angle arccos(r / |S|) either side of S's direction;
the superior point: n along S. A wrong landmark is caught: for the first case the most anterior
point (n = -y) reads 0.98 mm, the tangent point 1.74 mm.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib import labels as L
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume

SHELL_MM = 3.0
CAP_DEG = 95.0


def _labels(r, R, offset, spacing, seed=0):
    """One left joint, condyle centred at (40, 0, 0) LPS mm, on a grid with a random sub-voxel
    origin."""
    rng = np.random.default_rng(seed)
    c0 = np.array([40.0, 0.0, 0.0])
    c1 = c0 + np.asarray(offset, float)
    half = R + SHELL_MM + np.linalg.norm(offset) + 2.0
    lo = c0 - half - rng.uniform(0.0, 1.0, 3) * spacing
    n = int(np.ceil(2 * half / spacing)) + 1
    k, j, i = np.indices((n, n, n))
    x, y, z = lo[0] + spacing * i, lo[1] + spacing * j, lo[2] + spacing * k
    d0 = np.sqrt((x - c0[0]) ** 2 + (y - c0[1]) ** 2 + (z - c0[2]) ** 2)
    d1 = np.sqrt((x - c1[0]) ** 2 + (y - c1[1]) ** 2 + (z - c1[2]) ** 2)
    up = (z - c1[2]) / np.maximum(d1, 1e-9)
    array = np.zeros((n, n, n), np.uint8)
    array[(d1 >= R) & (d1 <= R + SHELL_MM) & (up >= np.cos(np.radians(CAP_DEG)))] = \
        L.TEMPORAL_BONE[L.LEFT]
    array[d0 <= r] = L.CONDYLE[L.LEFT]
    image = sitk.GetImageFromArray(array)
    image.SetOrigin([float(v) for v in lo])
    image.SetSpacing((spacing,) * 3)
    return image


def _truth(r, R, offset):
    """{space: mm} in the sagittal plane through the condyle's centre, coordinates (y, z)."""
    c = np.asarray(offset, float)[1:]
    apex = c + np.array([0.0, R])
    a = apex / np.linalg.norm(apex)
    across = np.array([a[1], -a[0]])
    phi = np.arccos(r / np.linalg.norm(apex))

    def h(n):
        cn = c @ n
        return cn + np.sqrt(R ** 2 - c @ c + cn ** 2) - r

    ends = [np.cos(phi) * a + s * np.sin(phi) * across for s in (1.0, -1.0)]
    front = min(ends, key=lambda n: n[0])   # LPS -y is anterior
    back = max(ends, key=lambda n: n[0])
    return {"superior": h(a), "anterior": h(front), "posterior": h(back)}


@pytest.mark.parametrize("r,R,offset,spacing", [
    (5.0, 7.5, (0.0, 1.5, 0.5), 0.25),    # fossa behind: wide posterior space
    (5.0, 7.5, (0.0, -1.5, 0.5), 0.25),   # fossa in front: wide anterior space
    (6.0, 8.0, (0.0, 2.0, 0.0), 0.25),    # a 0.8 mm anterior space
    (5.0, 7.5, (0.0, 1.5, 0.5), 0.5),
])
def test_spaces_against_the_closed_form(r, R, offset, spacing):
    measured = measure_negative_volume(_labels(r, R, offset, spacing)).sides[L.LEFT]
    truth = _truth(r, R, offset)
    # measured at commit time: superior +0.11 / +0.11 / -0.07 / +0.06 mm, anterior / posterior
    # within 0.07 mm of the truth
    for space, tol in (("superior", 0.15), ("anterior", 0.1), ("posterior", 0.1)):
        assert measured["joint_space_%s_mm" % space] == pytest.approx(truth[space], abs=tol), space
    assert abs(truth["anterior"] - truth["posterior"]) > 1.0   # the case tells them apart


def test_concentric_fossa_reads_the_gap_everywhere():
    measured = measure_negative_volume(_labels(5.0, 7.0, (0.0, 0.0, 0.0), 0.25)).sides[L.LEFT]
    for space in ("superior", "anterior", "posterior"):
        assert measured["joint_space_%s_mm" % space] == pytest.approx(2.0, abs=0.05), space
