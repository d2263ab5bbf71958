"""Per-side TMJ anatomy of the head phantom: condyle, mandible, fossa, eminence, ear and mastoid.

All positions are in the *head frame* (mm; LPS-aligned before the head pose: +x patient's left,
+y posterior, +z superior), origin midway between the two condyle tops of the closed mouth.
Each side has a joint frame: ``u`` lateral along the condyle's long axis (turned by
``axis_angle_deg`` so that the medial pole lies posterior, as in reality), ``v`` anterior, ``w``
superior; its origin is the closed-mouth condyle top ``top``.
"""

import numpy as np

from . import shapes as S
from ..labels import CONDYLE_DEPTH_MM, LEFT, RIGHT

SIDE_SIGN = {LEFT: 1.0, RIGHT: -1.0}  # +x is the patient's left
# ear_canal="open": the external ear canal runs this far (mm) behind the condyle's back, through
# the front of the tympanic bone, so its air lies open to the joint's posterior recess (the
# cartilaginous lateral canal, or a tympanic plate too thin for the CT): condyle rays reach it
OPEN_CANAL_GAP_MM = 2.0


def draw_side(rng, side, half_distance):
    """Random anatomy numbers (mm, degrees) of one joint; ``half_distance``: |x| of the top."""
    sign = SIDE_SIGN[side]
    p = {
        "condyle_top_mm": [sign * half_distance, float(rng.uniform(-2.0, 2.0)),
                           float(rng.uniform(-1.5, 1.5))],
        "condyle_semi_axes_mm": [float(rng.uniform(7.5, 11.0)), float(rng.uniform(4.0, 5.0)),
                                 float(rng.uniform(5.5, 7.5))],
        "axis_angle_deg": float(rng.uniform(10.0, 25.0)),
        "joint_space_superior_mm": float(rng.uniform(0.5, 5.0)),
        "eminence_depth_mm": float(rng.uniform(4.5, 8.0)),
        "eminence_position_mm": float(rng.uniform(9.0, 13.0)),
        "eminence_width_mm": float(rng.uniform(4.5, 6.0)),
        "postglenoid_depth_mm": float(rng.uniform(3.0, 6.0)),
        "postglenoid_width_mm": float(rng.uniform(1.5, 2.5)),
        "roof_thickness_mm": float(rng.uniform(0.8, 1.8)),
        "condyle_cortex_mm": float(rng.uniform(0.8, 1.6)),
        "floor_extra_thickness_mm": float(rng.uniform(2.5, 5.0)),
        "meatus_radius_mm": float(rng.uniform(3.0, 4.5)),
        "neck_length_mm": float(rng.uniform(14.0, 20.0)),
        "ramus_tilt_deg": float(rng.uniform(5.0, 15.0)),
    }
    p["postglenoid_position_mm"] = -(p["condyle_semi_axes_mm"][1]
                                     + p["joint_space_superior_mm"] + float(rng.uniform(1.5, 3.0)))
    return p


def joint_axes(side, angle_deg):
    """Unit vectors (u lateral, v anterior, w superior) of a joint frame in the head frame."""
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    if side == LEFT:
        u, v = np.array([c, -s, 0.0]), np.array([-s, -c, 0.0])
    else:
        u, v = np.array([-c, -s, 0.0]), np.array([s, -c, 0.0])
    return u, v, np.array([0.0, 0.0, 1.0])


def _gauss(t, width):
    return np.exp(-0.5 * (t / width) ** 2)


class FossaProfile(object):
    """Depth (mm, >= 0) of the skull floor's underside below the fossa roof near one joint.

    d(a, l) with a anterior, l lateral (joint frame, mm): the articular eminence in front, the
    postglenoid process behind, a medial wall, all fading beyond the fossa's width; d(0, 0) = 0.
    """

    def __init__(self, side, p):
        self.top = np.asarray(p["condyle_top_mm"], float)
        self.u, self.v, _ = joint_axes(side, p["axis_angle_deg"])
        half_ml = p["condyle_semi_axes_mm"][0]
        self.bumps = [  # (depth, a0, wa, l0, wl)
            (p["eminence_depth_mm"], p["eminence_position_mm"], p["eminence_width_mm"], 0.0,
             half_ml + 4.0),
            (p["postglenoid_depth_mm"], p["postglenoid_position_mm"], p["postglenoid_width_mm"],
             0.0, half_ml + 2.0),
            (4.0, 0.0, 6.0, -(half_ml + 4.0), 2.5),
        ]
        self.offset = sum(d * _gauss(-a0, wa) * _gauss(-l0, wl) for d, a0, wa, l0, wl in self.bumps)

    def _al(self, x, y):
        dx, dy = x - np.float32(self.top[0]), y - np.float32(self.top[1])
        return (dx * np.float32(self.v[0]) + dy * np.float32(self.v[1]),
                dx * np.float32(self.u[0]) + dy * np.float32(self.u[1]))

    def roof_weight(self, x, y):
        """1 over the fossa roof, fading to 0 beyond ~10 mm anterior/posterior, ~14 mm lateral."""
        a, l = self._al(x, y)
        return _gauss(a, 7.0) * _gauss(l, 12.0)

    def depth_and_gradient(self, x, y):
        """Depth and its x, y derivatives at head-frame points (float32 arrays)."""
        dx, dy = x - np.float32(self.top[0]), y - np.float32(self.top[1])
        a = dx * np.float32(self.v[0]) + dy * np.float32(self.v[1])
        l = dx * np.float32(self.u[0]) + dy * np.float32(self.u[1])
        dt = np.result_type(x, np.float32)
        depth = np.full(np.shape(a), -self.offset, dt)
        da = np.zeros(np.shape(a), dt)
        dl = np.zeros(np.shape(a), dt)
        for d, a0, wa, l0, wl in self.bumps:
            g = d * _gauss(a - a0, wa) * _gauss(l - l0, wl)
            depth += g
            da -= g * (a - a0) / wa ** 2
            dl -= g * (l - l0) / wl ** 2
        gx = da * np.float32(self.v[0]) + dl * np.float32(self.u[0])
        gy = da * np.float32(self.v[1]) + dl * np.float32(self.u[1])
        return depth, gx, gy


class SkullFloor(S.Shape):
    """The skull base as one plate joining both sides, its underside shaped into the two fossae.

    Underside z_b(x, y) = roof(x) + baseline(y) - fossa depths; top z_t = z_b's fossa-free level +
    thickness(x). ``roof`` blends the two sides' roof heights (condyle top + superior joint space)
    across the midline; the baseline rises anteriorly (anterior cranial fossa) and falls
    posteriorly (posterior cranial fossa). ``f`` = signed vertical distance scaled by the slope.
    """

    def __init__(self, sides, roof_thickness, mid_thickness):
        self.profiles = {s: FossaProfile(s, p) for s, p in sides.items()}
        self.roof = {s: p["condyle_top_mm"][2] + p["joint_space_superior_mm"]
                     for s, p in sides.items()}
        self.thick = {s: roof_thickness[s] for s in sides}
        self.extra = {s: sides[s]["floor_extra_thickness_mm"] for s in sides}
        self.mid = float(mid_thickness)
        self.shift = {s: 0.0 for s in sides}
        targets = dict(self.roof)
        for _ in range(4):  # make the underside pass exactly through each roof point
            for s in sides:
                t = sides[s]["condyle_top_mm"]
                zb = self._surfaces(np.float64([t[0]]), np.float64([t[1]]))[0][0]
                self.shift[s] += targets[s] - float(zb)

    @staticmethod
    def _softplus(t, k=6.0):
        return k * np.logaddexp(0.0, t / k), 1.0 / (1.0 + np.exp(-t / k))

    def surfaces(self, x, y):
        """(z_b, |grad z_b|-scale, z_t, scale_t): underside and top heights (mm) and slope factors.

        The last result is kept for the same coordinate arrays (the skull and the brain are
        painted on the same voxel box).
        """
        cache = getattr(self, "_cache", None)
        if cache is not None and cache[0] is x and cache[1] is y:
            return cache[2]
        out = self._surfaces(x, y)
        if np.size(x) > 1000:
            self._cache = (x, y, out)
        return out

    def _surfaces(self, x, y):
        dt = np.result_type(x, np.float32)
        wl = (1.0 / (1.0 + np.exp(-x / 6.0))).astype(dt)
        dwl = wl * (1 - wl) / 6.0
        sides = list(self.profiles)
        w = {LEFT: wl, RIGHT: 1.0 - wl}
        dw = {LEFT: dwl, RIGHT: -dwl}
        ant, dant = self._softplus(-30.0 - y)  # rises 0.6 mm per mm anterior of y = -30
        post, dpost = self._softplus(y - 18.0)  # falls 0.45 mm per mm posterior of y = 18
        base = 0.6 * ant - 0.45 * post
        dbase = -0.6 * dant - 0.45 * dpost
        zb = base.astype(dt)
        gx = np.zeros(np.shape(zb), dt)
        gy = dbase.astype(dt)
        zt = zb.copy()
        for s in sides:
            depth, ddx, ddy = self.profiles[s].depth_and_gradient(x, y)
            level = self.roof[s] + self.shift[s]
            zb = zb + w[s] * (level - depth)
            gx = gx + dw[s] * (level - depth) - w[s] * ddx
            gy = gy - w[s] * ddy
            # the plate thickens away from the thin fossa roof
            thin = self.profiles[s].roof_weight(x, y)
            zt = zt + w[s] * (level + self.thick[s] + self.extra[s] * (1.0 - thin))
        mid = self.mid * np.exp(-0.5 * (x / 14.0) ** 2)
        zt = zt + mid
        scale_b = np.sqrt(1.0 + gx * gx + gy * gy)
        scale_t = np.sqrt(1.0 + gy * gy + (x / 14.0 ** 2 * mid) ** 2)
        return zb, scale_b, zt, scale_t

    def f(self, x, y, z):
        zb, sb, zt, st = self.surfaces(x, y)
        return np.maximum((zb - z) / sb, (z - zt) / st)


class Joint(object):
    """One side's mandible (placed for the mouth state) and its temporal-bone pieces."""

    def __init__(self, side, p, floor):
        self.side, self.p = side, p
        sign = SIDE_SIGN[side]
        a, b, c = p["condyle_semi_axes_mm"]
        u, v, w = joint_axes(side, p["axis_angle_deg"])
        top = np.asarray(p["condyle_top_mm"], float)
        frame = np.stack([u, v, w], axis=1)  # joint frame -> head frame
        opening = np.radians(p.get("opening_deg", 0.0))
        rot = frame.dot(S.rotation(rx_deg=-np.degrees(opening)))  # chin down, ramus back
        if p.get("mouth", "closed") == "open":
            target = top + p["translation_forward_mm"] * v
            zb, _, _, _ = floor.surfaces(np.float32([target[0]]), np.float32([target[1]]))
            target[2] = float(zb[0]) - p["joint_space_superior_mm"]
            centre = target - rot.dot([0.0, 0.0, c])  # the rotated top lands on the target
        else:
            centre = top - c * w
        self.centre, self.rot = centre, rot
        self.top_now = centre + rot.dot([0.0, 0.0, c])

        def place(q):
            return centre + rot.dot(q)

        # the ramus stands in the sagittal plane (undo the condyle's axis angle), tilted back
        tilt = S.rotation(rz_deg=-p["axis_angle_deg"]).dot(S.rotation(rx_deg=p["ramus_tilt_deg"]))
        neck_l = p["neck_length_mm"]
        self.head = S.Ellipsoid(centre, [a, b, c], rot)
        neck = S.Ellipsoid(place([-0.1 * a, -0.1 * b, -c - 0.5 * neck_l + 1.0]),
                           [0.5 * a, 0.72 * b, 0.5 * neck_l + 4.0], rot)
        # ramus: its top stays below the MC plane (15 mm under the condyle top)
        ramus = S.Ellipsoid(place([-0.1 * a, 3.0, -c - neck_l - 15.0]), [3.0, 13.0, 24.0],
                            rot.dot(tilt))
        angle = place([-0.1 * a, -4.0, -c - neck_l - 34.0])
        closed_angle = top - c * w + frame.dot([-0.1 * a, -4.0, -c - neck_l - 34.0])
        chin_closed = np.array([sign * 4.0, -75.0, closed_angle[2] - 8.0])
        chin = place(frame.T.dot(chin_closed - (top - c * w)))
        body = S.Capsule(angle, chin, 6.0)
        self.mandible = S.Union([self.head, neck, ramus, body], blend=2.5)
        cut_point = place([0.0, 0.0, c - CONDYLE_DEPTH_MM])
        self.mc = S.Intersection([self.mandible, S.HalfSpace(cut_point, -rot[:, 2])])
        reach = max(a, 15.0) + 2.0  # every MC point lies this close to the head's centre
        self.mc.lo = np.maximum(self.mc.lo, centre - reach)
        self.mc.hi = np.minimum(self.mc.hi, centre + reach)

        # temporal-bone pieces behind and lateral to the joint
        x0, y0 = top[0], top[1]
        z0 = floor.roof[side] - p["joint_space_superior_mm"]
        self.tympanic = S.Ellipsoid([x0 + sign * 3.0, y0 + 17.0, z0 - 3.0], [10.0, 7.0, 7.5])
        self.mastoid = S.Ellipsoid([x0 + sign * 4.0, y0 + 28.0, z0 - 5.0], [12.0, 14.0, 17.0],
                                   S.rotation(rx_deg=-20.0))
        self.squama = S.Ellipsoid([x0, y0 + 19.0, z0 + 11.0], [13.0, 12.0, 10.0])
        self.petrous = S.Ellipsoid([x0 - sign * 17.0, y0 + 16.0, z0 + 2.0], [22.0, 7.0, 7.0],
                                   S.rotation(rz_deg=sign * 40.0))
        self.arch = S.RoundBox([x0 + sign * 9.0, y0 - 24.0, z0 - 1.0], [2.5, 17.0, 4.0], 2.0,
                               S.rotation(rz_deg=-sign * 6.0))
        canal_y = y0 + 17.0  # inside the tympanic bone, its front wall out of the rays' reach
        if p.get("ear_canal") == "open":  # no bony front wall behind the condyle (see below)
            canal_y = y0 + b + OPEN_CANAL_GAP_MM + p["meatus_radius_mm"]
        self.meatus = S.Capsule([x0 + sign * 45.0, canal_y, z0 - 2.0],
                                [x0 - sign * 6.0, canal_y, z0 - 2.0], p["meatus_radius_mm"])
        self.parotid = S.Ellipsoid([x0 + sign * 12.0, y0 + 6.0, z0 - 24.0], [9.0, 13.0, 17.0])

    def temporal_pieces(self):
        return [self.tympanic, self.mastoid, self.squama, self.petrous, self.arch]

    def air_cells(self, rng, skull_bone, count):
        """Random mastoid/squamous air cells (spheres) lying >= 0.7 mm deep inside ``skull_bone``
        (so that they never touch its outer surface, which the NV truth's rays meet first)."""
        cells = []
        lo = np.array([min(self.mastoid.c[0], self.squama.c[0]) - 12.0, self.tympanic.c[1] - 2.0,
                       self.mastoid.c[2] - 15.0])
        hi = np.array([max(self.mastoid.c[0], self.squama.c[0]) + 12.0, self.mastoid.c[1] + 13.0,
                       self.squama.c[2] + 8.0])
        centres = rng.uniform(lo, hi, size=(count * 20, 3))
        radii = np.sort(rng.uniform(0.7, 3.0, size=count * 20))[::-1]  # pack large cells first
        depth = skull_bone(centres.astype(np.float32))
        kept_c, kept_r = np.zeros((0, 3)), np.zeros(0)
        for c, r, f in zip(centres, radii, depth):
            if len(kept_r) >= count:
                break
            if f < -(r + 0.6) and np.all(np.linalg.norm(kept_c - c, axis=1) > kept_r + r + 0.35):
                kept_c, kept_r = np.vstack([kept_c, c]), np.append(kept_r, r)
        return [S.Ellipsoid(c, [r, r, r]) for c, r in zip(kept_c, kept_r)]
