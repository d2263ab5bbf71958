"""The whole head of the phantom: skin, fat, muscle, skull, brain, airways, spine and both joints.

All shapes live in the head frame (mm; +x patient's left, +y posterior, +z superior; origin
midway between the closed-mouth condyle tops), see :mod:`.anatomy` for the joints.
"""

import numpy as np

from . import shapes as S
from .anatomy import Joint, SkullFloor
from ..labels import SIDES, TEMPORAL_BONE_RADIUS_MM

TB_RADIUS_MM = TEMPORAL_BONE_RADIUS_MM  # the TB label (and the TB the rays see) is the skull bone within this of the condyle
GUARD_MM = 0.3  # the skull bone keeps at least this gap from the mandible


class HeadAnatomy(object):
    """All shapes of one drawn head, in the head frame (mm)."""

    def __init__(self, p, rng):
        k = p["head_scale"]
        self.floor = SkullFloor({s: p[s] for s in SIDES},
                                {s: p[s]["roof_thickness_mm"] for s in SIDES},
                                p["mid_floor_thickness_mm"])
        self.joints = {s: Joint(s, p[s], self.floor) for s in SIDES}
        wide = p["joint_distance_mm"] / 100.0  # the head's width follows the joints' spacing
        skin_r = np.array([83.0 * wide, 104.0, 112.0]) * k
        skin_c = [0.0, 12.0, 28.0]
        self.skin = S.Ellipsoid(skin_c, skin_r)
        self.skin_mm = 1.5  # fat lies this deep under the skin surface, muscle under the fat
        self.fat_mm = p["fat_thickness_mm"]
        sk_r = np.array([72.0 * wide, 90.0, 92.0]) * k
        sk_c = [0.0, 10.0, 36.0]
        self.cranium = Cranium(self.floor, sk_c, sk_r, p["skull_thickness_mm"])
        self.brain = Brain(self.cranium)
        self.sphenoid = S.Ellipsoid([0.0, -8.0, -4.0], [13.0, 14.0, 11.0])
        self.spine = S.Union([S.Capsule([0.0, 22.0, -22.0], [0.0, 24.0, -95.0], 8.5),
                              S.RoundBox([0.0, 24.0, -26.0], [24.0, 8.0, 5.0], 3.0)], blend=3.0)
        self.airways = [S.Capsule([0.0, 4.0, -12.0], [0.0, 6.0, -95.0], 7.0),
                        S.RoundBox([0.0, -66.0, -8.0], [10.0, 22.0, 20.0], 4.0),
                        S.Ellipsoid([-30.0, -58.0, -20.0], [12.0, 15.0, 15.0]),
                        S.Ellipsoid([30.0, -58.0, -20.0], [12.0, 15.0, 15.0]),
                        S.Ellipsoid([0.0, -10.0, -4.0], [8.0, 8.0, 6.0])]
        pieces = [self.cranium, self.sphenoid]
        for j in self.joints.values():
            pieces += j.temporal_pieces()
        holes = [j.meatus for j in self.joints.values()]
        holes += [S.Offset(j.mandible, GUARD_MM) for j in self.joints.values()]
        self.skull_bone = S.Difference(S.Union(pieces, blend=2.0), holes)
        self.cells = []
        for s in SIDES:
            self.cells += self.joints[s].air_cells(rng, self.skull_bone, p["air_cells"])
        self.tb = {s: S.Intersection([self.skull_bone,
                                      S.Ellipsoid(self.joints[s].centre, [TB_RADIUS_MM] * 3)])
                   for s in SIDES}


class Cranium(S.Local):
    """Skull vault (ellipsoidal shell of ``thickness`` mm) standing on the skull floor plate.

    f = min(plate inside the outer ellipsoid, shell above the plate's underside); box = the
    outer ellipsoid's.
    """

    def __init__(self, floor, centre, radii, thickness):
        self.floor = floor
        self.radii = [float(r) for r in radii]
        self.inner = [r - float(thickness) for r in self.radii]
        S.Local.__init__(self, centre, None, self.radii)

    def inner_distance(self, x, y, z):
        """f of the inner (vault) ellipsoid; kept for the same coordinate arrays (brain, skull)."""
        last = getattr(self, "_inner", None)
        if last is not None and last[0] is x and last[1] is y and last[2] is z:
            return last[3]
        u, v, w = self.local(x, y, z)
        out = S.ellipsoid_distance(u, v, w, *self.inner)
        if np.size(x) > 1000:
            self._inner = (x, y, z, out)
        return out

    def f(self, x, y, z):
        zb, sb, zt, st = self.floor.surfaces(x, y)
        u, v, w = self.local(x, y, z)
        outer = S.ellipsoid_distance(u, v, w, *self.radii)
        plate = np.maximum(np.maximum((zb - z) / sb, (z - zt) / st), outer)
        shell = np.maximum(np.maximum(outer, -self.inner_distance(x, y, z)), (zb - z) / sb)
        return np.minimum(plate, shell)


class Brain(S.Shape):
    """Inside the skull vault and above the floor plate (same box as the :class:`Cranium`)."""

    def __init__(self, cranium):
        self.cranium = cranium
        self.lo, self.hi = cranium.lo, cranium.hi

    def f(self, x, y, z):
        _, _, zt, st = self.cranium.floor.surfaces(x, y)
        return np.maximum(self.cranium.inner_distance(x, y, z), (zt - z) / st)
