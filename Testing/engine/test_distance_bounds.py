"""Distance-map bounds (engine/distance_bounds.py) against the exact nearest-point distance
(brute force over every point): never on the wrong side of it, and close to it."""

import numpy as np
import pytest

from NegativeVolumeSegmentationLib.engine.distance_bounds import DistanceBounds


@pytest.mark.parametrize("cell", [0.3, 0.5, 1.0])
def test_bounds_hold_the_true_distance(cell):
    rng = np.random.default_rng(7)
    # points on a sphere of radius 6 mm (a surface, as the meshes are) and a few stray ones
    direction = rng.normal(size=(3000, 3))
    points = np.vstack([6.0 * direction / np.linalg.norm(direction, axis=1, keepdims=True),
                        rng.uniform(-9.0, 9.0, (20, 3))]) + np.array([4.0, -2.0, 7.5])
    queries = rng.uniform(-12.0, 16.0, (4000, 3))
    true = np.min(np.linalg.norm(queries[:, None, :] - points[None, :, :], axis=2), axis=1)
    bounds = DistanceBounds(points, cell, lo=np.full(3, -10.0), hi=np.full(3, 10.0))
    lower, upper = bounds.lower(queries), bounds.upper(queries)
    assert np.all(lower <= true + 1e-9) and np.all(true <= upper + 1e-9)
    mapped = np.isfinite(upper)           # inside the map: the box -10..10 and the points'
    assert 1000 < mapped.sum() < len(queries)
    assert np.all(upper[mapped] - lower[mapped] <= 2.0 * np.sqrt(3.0) * cell + 1e-9)
