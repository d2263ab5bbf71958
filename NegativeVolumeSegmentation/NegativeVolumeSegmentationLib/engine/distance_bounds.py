"""Cheap, certain bounds of the distance from any point to the nearest of a set of points.

A k-d tree answers the exact nearest point, but a query far from a surface's points is slow
(2-5 us each: many leaves lie at almost the same distance). Where a bound settles the question
(a ray may jump that far through empty space; a voxel is surely nearer to one part of a mesh than
to another) a look-up in a distance map replaces the query.

The map: cubic cells of ``cell`` mm over a box holding the points, each cell the distance
between its centre and the centre of the nearest cell holding a point (Euclidean distance
transform). A point and its cell's centre lie within half a cell diagonal of each other, and so do
a set point and its cell's centre, so the true distance lies within one diagonal of the map's
value. Points are LPS mm (any frame, as long as it is the same for all).
"""

import numpy as np
from scipy import ndimage


class DistanceBounds(object):
    """Lower and upper bounds (mm) of the distance from query points to ``points`` (N, 3).

    The map covers the points' bounding box, grown to hold ``lo`` .. ``hi`` (mm) when given (the
    queries' box: the upper bound is known only inside the map).
    """

    def __init__(self, points, cell, lo=None, hi=None):
        points = np.asarray(points, float).reshape(-1, 3)
        self.cell = float(cell)
        self.points_lo, self.points_hi = points.min(axis=0), points.max(axis=0)
        self.lo = self.points_lo if lo is None else np.minimum(self.points_lo, lo)
        hi = self.points_hi if hi is None else np.maximum(self.points_hi, hi)
        shape = np.floor((hi - self.lo) / self.cell).astype(int) + 1
        occupied = np.zeros(shape, bool)
        occupied[tuple(self._cells(points).T)] = True
        self.map = ndimage.distance_transform_edt(~occupied, sampling=self.cell)
        self.diagonal = np.sqrt(3.0) * self.cell

    def _cells(self, points):
        return np.floor((points - self.lo) / self.cell).astype(int)

    def _look_up(self, points):
        """(map value per point, whether the point lies in the map)."""
        idx = self._cells(points)
        inside = np.all((idx >= 0) & (idx < np.asarray(self.map.shape)), axis=1)
        value = np.full(len(points), np.nan)
        value[inside] = self.map[tuple(idx[inside].T)]
        return value, inside

    def lower(self, points):
        """Per point, a distance (mm) no larger than the true one: the map's value less a cell
        diagonal inside the map (at least 0), the distance to the points' bounding box outside."""
        points = np.asarray(points, float).reshape(-1, 3)
        out = np.sqrt(np.sum(np.maximum(np.maximum(self.points_lo - points,
                                                   points - self.points_hi), 0.0) ** 2, axis=1))
        value, inside = self._look_up(points)
        out[inside] = np.maximum(value[inside] - self.diagonal, 0.0)
        return out

    def upper(self, points):
        """Per point, a distance (mm) no smaller than the true one: the map's value plus a cell
        diagonal inside the map, inf outside."""
        value, inside = self._look_up(np.asarray(points, float).reshape(-1, 3))
        return np.where(inside, value + self.diagonal, np.inf)
