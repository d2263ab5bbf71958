"""Where one joint space ends: the bounded definition of the negative volume (mode "bounded").

The joint space is the gap between the condylar head's articular surface and the glenoid fossa
(docs/method.md, "Bounded joint space"). In the joint's frame (lateral axis m towards the
patient's left, superior axis s, posterior axis p = s x m; LPS mm):

* the condyle faces the joint where it can be seen from the fossa's apex A: in the sagittal
  plane, the condylar surface between the tangent lines from A to its anterior and posterior
  surfaces (the landmarks of Ikeda and Kawamura's linear joint spaces: the fossa's most superior
  point and the tangent points from it). A is the highest point the condyle's rays reach on the
  temporal bone (the median over 1 mm sagittal slabs across the head's central half of each
  slab's highest ray end, placed in the middle of the ends within 0.5 mm of it). A condyle
  point faces the joint when its normal, projected onto the sagittal plane, points towards the
  line through A along m, and it is connected on the surface to the condyle's top
  (:meth:`JointBounds.facing_cap`: a concavity of the neck can face A too, hidden behind the
  head); rays from the other points (the condylar neck, the head's underside) count 0, and an
  NV point counts only when the condyle point nearest to it faces the joint;
* medially and laterally the joint space ends at the planes normal to m through the condylar
  head's medial and lateral poles (the head = the condyle within ``labels.CONDYLAR_HEAD_MM``
  below its top).

A is a maximum on the dome of the fossa roof, read on the rays (not on the bone's upper, cranial
surface), so it moves little when the head is tilted (measured: docs/method.md). The articular
eminence crest E (the lowest temporal-bone point up to ``EMINENCE_REACH_MM`` in front of the
head's centre) and the postglenoid tip P (the lowest up to ``POSTGLENOID_REACH_MM`` behind it,
never lower than E: a wall running on down as the tympanic plate is levelled with the crest) are
reported (their depths below the condyle top are read along the scan's superior axis, so they
move with the head's pitch), and E decides whether the condyle sits in its fossa: a condylar
head whose centre is not at least 4 mm behind E is not seated (mouth open, dislocation) and its
bounded joint space is not defined. Only temporal bone within ``RIM_SEARCH_DEPTH_MM`` below the
condyle top and between the poles can be a rim. Points are LPS mm; the same class serves the
engine (mesh vertices and rays) and the phantom truth (points on the exact implicit surfaces).
"""

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..labels import CONDYLAR_HEAD_MM

EMINENCE_REACH_MM = 20.0  # eminence crest lies 7-13 mm in front of the condyle's centre
POSTGLENOID_REACH_MM = 12.0  # postglenoid process: right behind the head (4-8 mm)
RIM_SEARCH_DEPTH_MM = 12.0  # eminence height is 5-9 mm below the fossa roof
MIN_SEATED_BEHIND_MM = 4.0  # a head centre less than this behind the crest: not in its fossa
#                            (closed mouth: 7-13 mm behind it; on the crest: 0)
EMINENCE_MIN_DROP_MM = 1.0  # a crest at least this below the fossa apex: an eminence (phantoms
#                            on theirs: 2.4-5.4 mm; a flat bone above the condyle: 0)
CORE_MARGIN = 0.25  # rims are read over the head's central half (a quarter in from each pole)
SLAB_MM = 1.0  # width of the sagittal slabs whose lowest bone points (highest ray ends) are
#               the rim (apex) samples
APEX_BAND_MM = 0.5  # the apex's position in a slab: the mean of its ray ends within 0.5 mm of
#                     the highest (a dome's top is flat: the single highest end jumps along it)
PAIR_MIN_DISTANCE_MM = 40.0  # two condyles closer than this do not define the left-right axis
# The condyles' axis and the normal of the head's mid-sagittal plane agree within 0.5 degrees on
# the real head of ../shared; 5 degrees is one condyle ~9 mm higher or further forwards than the
# other at 100 mm apart: a condyle taken from other bone, or a markedly asymmetric mandible
MAX_PAIR_LEAN_DEG = 5.0
# where the joints' left-right axis came from (report.json: joint_bounds.lateral_axis_from)
CONDYLE_PAIR, HEAD_PLANE, SCANNER_X = "condyle centres", "head's mid-sagittal plane", "scanner x"


def pair_axis(left_centre, right_centre):
    """Unit LPS vector from the right condyle's centre to the left one's, or None unless both
    are known, >= 40 mm apart and the left one at larger LPS x."""
    if left_centre is None or right_centre is None:
        return None
    d = np.asarray(left_centre, float) - np.asarray(right_centre, float)
    n = float(np.linalg.norm(d))
    return d / n if n >= PAIR_MIN_DISTANCE_MM and d[0] > 0 else None


def lateral_axis(left_centre=None, right_centre=None):
    """Unit LPS vector towards the patient's left: :func:`pair_axis` when it is defined, else
    LPS +x."""
    axis = pair_axis(left_centre, right_centre)
    return np.array([1.0, 0.0, 0.0]) if axis is None else axis


def lean_deg(axis, other):
    """Angle between two unit vectors (degrees)."""
    return float(np.degrees(np.arccos(np.clip(np.dot(axis, other), -1.0, 1.0))))


def joints_axis(left_centre, right_centre, head_lateral=None):
    """(unit LPS vector towards the patient's left, where it came from): the joints' left-right
    axis. The condyles' :func:`pair_axis` unless the head's own axis ``head_lateral`` (the
    normal of its mid-sagittal plane, :func:`.inference.symmetry.head_reflection`; None when
    the scan holds no mirror-symmetric head) is known and the pair is undefined or leans more
    than MAX_PAIR_LEAN_DEG from it; LPS +x when neither is known. A condyle taken from other
    bone leans the pair's axis, and with it both joints' frames: the real head with one joint's
    tissue blanked (the localiser took bone by the orbit for that condyle) read the healthy
    side's anterior / posterior spaces 2.12 / 3.70 mm instead of 3.13 / 4.85 mm."""
    pair = pair_axis(left_centre, right_centre)
    if head_lateral is not None:
        head = np.asarray(head_lateral, float) / np.linalg.norm(head_lateral)
        if pair is None or lean_deg(pair, head) > MAX_PAIR_LEAN_DEG:
            return head, HEAD_PLANE
    if pair is None:
        return lateral_axis(), SCANNER_X
    return pair, CONDYLE_PAIR


def joint_frame(lateral):
    """(m, p, s) unit rows: lateral (left), posterior, superior; s is LPS +z made normal to m."""
    m = np.asarray(lateral, float) / np.linalg.norm(lateral)
    s = np.array([0.0, 0.0, 1.0]) - m[2] * m
    s /= np.linalg.norm(s)
    p = np.cross(s, m)
    return np.stack([m, p, s])


def slab_median(points, m_range, highest=False):
    """Median over 1 mm sagittal slabs of the head's central half (``m_range``: its poles'
    m-coordinates) of each slab's lowest point ((m, p, s) rows), or None.
    Near a pole the bone drops steeply (the fossa's lateral and medial walls), so the lowest
    point of the whole width would jump with a tenth of a millimetre of pole position; the
    central profile is where the joint space is read (docs/method.md).

    ``highest`` (the fossa apex, on ray ends): each slab's highest height, at the mean m and p
    of its points within ``APEX_BAND_MM`` of that height. The top of the fossa's dome is flat
    over millimetres front to back: its single highest point moved by up to 2.7 mm along p
    between the same phantom's true and reconstructed roof (0.8 x 0.8 x 1.5 mm grid), the band's
    middle does not (docs/method.md, "Bounded joint space")."""
    lo, hi = m_range
    half = (0.5 - CORE_MARGIN) * (hi - lo)
    centre = 0.5 * (lo + hi)
    n = max(1, int(np.ceil(half / SLAB_MM)))
    edges = centre + SLAB_MM * np.arange(-n, n + 1)  # symmetric about the head's centre:
    edges = np.clip(edges, centre - half, centre + half)  # a mirror image gives the same slabs
    crests = []
    for a, b in zip(edges[:-1], edges[1:]):
        slab = points[(points[:, 0] >= a) & (points[:, 0] <= b)]
        if len(slab):
            z = slab[:, 2]
            if highest:
                top = slab[z >= z.max() - APEX_BAND_MM].mean(axis=0)
                crests.append(np.array([top[0], top[1], z.max()]))
            else:  # voxel faces tie: the middle of the lowest
                crests.append(slab[z <= z.min() + 1e-6].mean(axis=0))
    return None if not crests else np.median(np.array(crests), axis=0)


def head_of(frame, condyle_points):
    """(top s, the head's (m, p, s) points, its poles' m-range) of the condyle in ``frame``."""
    c = np.asarray(condyle_points, float) @ np.asarray(frame, float).T
    top_s = float(c[:, 2].max())
    head = c[c[:, 2] >= top_s - CONDYLAR_HEAD_MM]
    return top_s, head, (float(head[:, 0].min()), float(head[:, 0].max()))


def fossa_apex(frame, condyle_points, ray_ends):
    """The fossa apex (LPS mm): the highest point the condyle's rays reach on the temporal bone,
    the median over 1 mm sagittal slabs across the condylar head's central half of each slab's
    highest ray end (:func:`slab_median`; heights along ``frame``'s s). None without rays.
    A maximum on the dome of the fossa roof: tilting the head moves it along the roof by little
    (<= 0.6 mm for 10 degrees on the dental CBCT map, docs/method.md). ``condyle_points`` /
    ``ray_ends``: (N, 3) LPS mm."""
    frame = np.asarray(frame, float)
    ends = np.asarray(ray_ends, float).reshape(-1, 3)
    if len(ends) == 0:
        return None
    apex = slab_median(ends @ frame.T, head_of(frame, condyle_points)[2], highest=True)
    return None if apex is None else apex @ frame


class JointBounds(object):
    """The bounded joint region of one joint (see the module docstring).

    Args:
        frame: (3, 3) rows m, p, s from :func:`joint_frame`.
        condyle_points: (N, 3) LPS mm points on the condyle's surface.
        bone_points: (K, 3) LPS mm points on the temporal bone's surface (for E and P).
        ray_ends: (H, 3) LPS mm ends of the condyle's rays that met the temporal bone (for A).
    Attributes (LPS mm): ``top`` (the condyle's highest point), ``apex`` / ``eminence`` /
    ``postglenoid`` (A, E and P, None where not found), ``m_range`` (the poles' m-coordinates).
    """

    def __init__(self, frame, condyle_points, bone_points, ray_ends):
        self.frame = np.asarray(frame, float)
        c = np.asarray(condyle_points, float) @ self.frame.T  # (m, p, s) coordinates
        top_s, head, self.m_range = head_of(self.frame, condyle_points)
        self.p_centre = float(head[:, 1].mean())
        self.top_s = top_s
        self.top = np.asarray(condyle_points, float)[int(np.argmax(c[:, 2]))]
        b = np.asarray(bone_points, float).reshape(-1, 3) @ self.frame.T
        b = b[b[:, 2] >= top_s - RIM_SEARCH_DEPTH_MM]
        dp = b[:, 1] - self.p_centre
        e = self._crest(b[(dp < 0) & (dp >= -EMINENCE_REACH_MM)])
        p = self._crest(b[(dp > 0) & (dp <= POSTGLENOID_REACH_MM)])
        if e is not None and p is not None and p[2] < e[2]:
            p = np.array([p[0], p[1], e[2]])  # a wall running on down: level with the crest
        self._e, self._p = e, p
        self.eminence = None if e is None else e @ self.frame
        self.postglenoid = None if p is None else p @ self.frame
        self.apex = fossa_apex(self.frame, condyle_points, ray_ends)
        self._apex = None if self.apex is None else self.frame @ self.apex

    @property
    def seated(self):
        """True when the condyle sits in its fossa: the condylar head's centre lies at least
        ``MIN_SEATED_BEHIND_MM`` behind the eminence crest (with the mouth open the condyle rides
        on or past the eminence and this joint space is not defined). A distance along the
        anterior-posterior axis, not a height: a head pitched by 20 degrees moved the crest's
        depth below the condyle top by up to ~4 mm (docs/method.md), its distance in front of
        the head by ~1-2 mm."""
        return self._e is not None and self.p_centre - self._e[1] >= MIN_SEATED_BEHIND_MM

    @property
    def on_eminence(self):
        """True when the condylar head rides on its articular eminence (mouth open): the crest
        E lies at least ``EMINENCE_MIN_DROP_MM`` below the fossa apex (an eminence; a flat bone
        over the condyle has no crest) and the head's centre less than ``MIN_SEATED_BEHIND_MM``
        behind it. Unlike :attr:`seated` (mode bounded), a joint whose crest is not found is
        not called on its eminence."""
        if self._e is None or self._apex is None:
            return False
        return (self._apex[2] - self._e[2] >= EMINENCE_MIN_DROP_MM
                and self.p_centre - self._e[1] < MIN_SEATED_BEHIND_MM)

    def _between_poles(self, c):
        return (c[:, 0] >= self.m_range[0]) & (c[:, 0] <= self.m_range[1])

    def facing(self, points, normals):
        """Boolean: condyle points (N, 3) with outward normals (N, 3), LPS, that face the joint:
        between the poles and seeing the apex line (normal . (A - point) > 0 in the sagittal
        plane). All False when no ray met the temporal bone (no apex)."""
        c = np.asarray(points, float) @ self.frame.T
        if self._apex is None:
            return np.zeros(len(c), bool)
        n = np.asarray(normals, float) @ self.frame.T
        towards = ((self._apex[None, 1:] - c[:, 1:]) * n[:, 1:]).sum(axis=1)
        return self._between_poles(c) & (towards > 0.0)

    def facing_cap(self, points, normals, edges):
        """Boolean: the points of :meth:`facing` connected to the highest of them along
        ``edges`` ((E, 2) index pairs: the mesh's edges, or sample neighbours). Seen from the
        apex, a concavity of the condylar neck can face it too, hidden behind the head; only the
        cap around the top is the articular surface."""
        face = self.facing(points, normals)
        if not face.any():
            return face
        edges = np.asarray(edges, int).reshape(-1, 2)
        edges = edges[face[edges[:, 0]] & face[edges[:, 1]]]
        n = len(face)
        graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (n, n))
        _, component = csgraph.connected_components(graph, directed=False)
        s = np.asarray(points, float) @ self.frame[2]
        top = int(np.argmax(np.where(face, s, -np.inf)))
        return face & (component == component[top])

    def contains(self, points):
        """Boolean: LPS points (N, 3) between the planes of the condylar head's poles."""
        return self._between_poles(np.asarray(points, float) @ self.frame.T)

    def _crest(self, points, highest=False):
        """:func:`slab_median` over this head's poles."""
        return slab_median(points, self.m_range, highest)

    def summary(self):
        """JSON-friendly: apex and rim points (LPS mm or None), the apex's height above and the
        rims' depth below the condyle top (mm), and the head's medial-lateral width (mm)."""
        def depth(q):
            return None if q is None else float(self.top_s - q[2])

        def lps(q):
            return None if q is None else [float(v) for v in q]
        return {
            "apex_lps_mm": lps(self.apex),
            "eminence_crest_lps_mm": lps(self.eminence),
            "postglenoid_tip_lps_mm": lps(self.postglenoid),
            "apex_height_mm": None if self._apex is None else float(self._apex[2] - self.top_s),
            "eminence_depth_mm": depth(self._e),
            "postglenoid_depth_mm": depth(self._p),
            "head_width_mm": float(self.m_range[1] - self.m_range[0]),
            "head_behind_eminence_mm": (None if self._e is None
                                        else float(self.p_centre - self._e[1])),
            "on_eminence": bool(self.on_eminence),
        }
