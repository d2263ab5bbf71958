"""Where one joint space ends: the bounded definition of the negative volume (mode "bounded").

The joint space is the gap between the condylar head and the glenoid fossa (docs/method.md,
"A joint space bounded to the joint"). In the joint's frame (lateral axis m towards the patient's
left, superior axis s, posterior axis p = s x m; LPS mm) it is bounded

* medially and laterally by the planes normal to m through the condylar head's medial and
  lateral poles (the head = the condyle within ``HEAD_DEPTH_MM`` below its top);
* inferiorly, anteriorly and posteriorly by the rim plane: the plane containing m through the
  articular eminence crest E (the lowest temporal-bone point in front of the head's centre,
  at most ``EMINENCE_REACH_MM`` anterior) and the postglenoid tip P (the lowest temporal-bone
  point behind it, at most ``POSTGLENOID_REACH_MM`` posterior, never lower than E: where the
  posterior wall runs on down as the tympanic plate, the rim is level with the crest). Both
  are medians over 1 mm sagittal slabs across the head's central half.

Only temporal bone within ``RIM_SEARCH_DEPTH_MM`` below the condyle top and between the poles
can be a rim. A condyle whose top is not at least 1 mm above the crest is not seated in its fossa
(mouth open, dislocation): the bounded joint space is not defined there. Points are LPS mm; the
same class serves the engine (voxel-face mesh vertices) and the phantom truth (points on the exact
implicit surfaces).
"""

import numpy as np

HEAD_DEPTH_MM = 10.0  # the condylar head: its top 10 mm (a head is 8-10 mm deep, ~20 mm wide)
EMINENCE_REACH_MM = 20.0  # eminence crest lies 7-13 mm in front of the condyle's centre
POSTGLENOID_REACH_MM = 12.0  # postglenoid process: right behind the head (4-8 mm)
RIM_SEARCH_DEPTH_MM = 12.0  # eminence height is 5-9 mm below the fossa roof
MIN_SEATED_DEPTH_MM = 1.0  # a crest less than this below the condyle top: not in its fossa
CORE_MARGIN = 0.25  # rims are read over the head's central half (a quarter in from each pole)
SLAB_MM = 1.0  # width of the sagittal slabs whose lowest bone points are the rim samples
PAIR_MIN_DISTANCE_MM = 40.0  # two condyles closer than this do not define the left-right axis


def lateral_axis(left_centre=None, right_centre=None):
    """Unit LPS vector towards the patient's left: from the right condyle's centre to the left
    one's when both are known (and >= 40 mm apart), else LPS +x."""
    if left_centre is not None and right_centre is not None:
        d = np.asarray(left_centre, float) - np.asarray(right_centre, float)
        n = float(np.linalg.norm(d))
        if n >= PAIR_MIN_DISTANCE_MM and d[0] > 0:
            return d / n
    return np.array([1.0, 0.0, 0.0])


def joint_frame(lateral):
    """(m, p, s) unit rows: lateral (left), posterior, superior; s is LPS +z made normal to m."""
    m = np.asarray(lateral, float) / np.linalg.norm(lateral)
    s = np.array([0.0, 0.0, 1.0]) - m[2] * m
    s /= np.linalg.norm(s)
    p = np.cross(s, m)
    return np.stack([m, p, s])


class JointBounds(object):
    """The bounded joint region of one joint (see the module docstring).

    Args:
        frame: (3, 3) rows m, p, s from :func:`joint_frame`.
        condyle_points: (N, 3) LPS mm points on the condyle's surface.
        bone_points: (K, 3) LPS mm points on the temporal bone's surface.
    Attributes (LPS mm): ``top`` (the condyle's highest point), ``eminence`` / ``postglenoid``
    (E and P, None where no bone was found), ``poles`` (medial / lateral m-coordinates).
    """

    def __init__(self, frame, condyle_points, bone_points):
        self.frame = np.asarray(frame, float)
        c = np.asarray(condyle_points, float) @ self.frame.T  # (m, p, s) coordinates
        top_s = float(c[:, 2].max())
        head = c[c[:, 2] >= top_s - HEAD_DEPTH_MM]
        self.m_range = (float(head[:, 0].min()), float(head[:, 0].max()))
        self.p_centre = float(head[:, 1].mean())
        self.top_s = top_s
        self.top = np.asarray(condyle_points, float)[int(np.argmax(c[:, 2]))]
        b = np.asarray(bone_points, float) @ self.frame.T
        b = b[b[:, 2] >= top_s - RIM_SEARCH_DEPTH_MM]
        dp = b[:, 1] - self.p_centre
        e = self._crest(b[(dp < 0) & (dp >= -EMINENCE_REACH_MM)])
        p = self._crest(b[(dp > 0) & (dp <= POSTGLENOID_REACH_MM)])
        if e is not None and p is not None and p[2] < e[2]:
            p = np.array([p[0], p[1], e[2]])  # a wall running on down: level with the crest
        self._e, self._p = e, p
        self.eminence = None if e is None else e @ self.frame
        self.postglenoid = None if p is None else p @ self.frame
        self._plane = self._rim_plane(e, p)

    @property
    def seated(self):
        """True when the condyle sits in its fossa: the eminence crest was found at least
        ``MIN_SEATED_DEPTH_MM`` below the condyle top (with the mouth open the condyle rides on
        or past the eminence and this joint space is not defined)."""
        return self._e is not None and self.top_s - self._e[2] >= MIN_SEATED_DEPTH_MM

    def _crest(self, points):
        """Median over 1 mm sagittal slabs of the head's central half of each slab's lowest
        point ((m, p, s)), or None. Near a pole the bone drops steeply (the fossa's lateral and
        medial walls), so the lowest point of the whole width would jump with a tenth of a
        millimetre of pole position; the central profile is where the joint space is read
        (docs/method.md)."""
        lo, hi = self.m_range
        half = (0.5 - CORE_MARGIN) * (hi - lo)
        centre = 0.5 * (lo + hi)
        n = max(1, int(np.ceil(half / SLAB_MM)))
        edges = centre + SLAB_MM * np.arange(-n, n + 1)  # symmetric about the head's centre:
        edges = np.clip(edges, centre - half, centre + half)  # a mirror image gives the same slabs
        crests = []
        for a, b in zip(edges[:-1], edges[1:]):
            slab = points[(points[:, 0] >= a) & (points[:, 0] <= b)]
            if len(slab):
                low = slab[slab[:, 2] <= slab[:, 2].min() + 1e-6]
                crests.append(low.mean(axis=0))  # voxel faces tie: the middle of the lowest
        return None if not crests else np.median(np.array(crests), axis=0)

    def _rim_plane(self, e, p):
        """(normal (p, s) in the sagittal plane, offset): inside when normal . (p, s) >= offset."""
        floor = self.top_s - RIM_SEARCH_DEPTH_MM
        if e is None and p is None:
            return np.array([0.0, 1.0]), floor
        if e is None or p is None:
            level = (e if p is None else p)[2]
            return np.array([0.0, 1.0]), float(level)
        d = np.array([p[1] - e[1], p[2] - e[2]])
        normal = np.array([-d[1], d[0]]) / np.linalg.norm(d)  # p runs behind e: s-part > 0
        return normal, float(normal @ np.array([e[1], e[2]]))

    def contains(self, points):
        """Boolean: LPS points (N, 3) between the poles and on or above the rim plane."""
        c = np.asarray(points, float) @ self.frame.T
        normal, offset = self._plane
        return ((c[:, 0] >= self.m_range[0]) & (c[:, 0] <= self.m_range[1])
                & (c[:, 1] * normal[0] + c[:, 2] * normal[1] >= offset))

    def summary(self):
        """JSON-friendly: rim points (LPS mm or None), their depth below the condyle top (mm) and
        the head's medial-lateral width (mm)."""
        def depth(q):
            return None if q is None else float(self.top_s - q[2])
        return {
            "eminence_crest_lps_mm": None if self.eminence is None else [float(v) for v in
                                                                         self.eminence],
            "postglenoid_tip_lps_mm": None if self.postglenoid is None else [
                float(v) for v in self.postglenoid],
            "eminence_depth_mm": depth(self._e),
            "postglenoid_depth_mm": depth(self._p),
            "head_width_mm": float(self.m_range[1] - self.m_range[0]),
        }
