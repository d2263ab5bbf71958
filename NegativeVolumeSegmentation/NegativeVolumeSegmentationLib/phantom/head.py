"""Realistic synthetic head CT around both TMJs, with truth from its own implicit geometry.

``make_head_phantom(seed, ...)`` draws every parameter from ``numpy.random.default_rng(seed)``
(same seed and options -> identical output), builds the anatomy (:mod:`.anatomy`) in the head
frame, poses the head in the image (rotations up to ±20° about each axis, identity direction
matrix), chooses the field of view (whole head or a CBCT-like crop) and the voxel spacing, paints
the CT (:mod:`.ct_look`), and labels MC / TB / NV on the CT grid. The NV truth comes from
:mod:`.truth` on the exact implicit shapes (not from the project's NV engine).
"""

import numpy as np

from . import Phantom
from . import shapes as S
from .anatomy import Joint, SkullFloor, draw_side
from .ct_look import Canvas, add_streaks, blur_and_noise
from .grid import Grid
from .truth import MAX_DISTANCE_MM, JointSpaceTruth, region_volume_and_centroid
from ..errors import InputError
from ..labels import CONDYLE, LEFT, NEGATIVE_VOLUME, RIGHT, SIDES, TEMPORAL_BONE

FOVS = ("head", "cbct", "cbct-left", "cbct-right")
MOUTHS = ("closed", "open")
TB_RADIUS_MM = 25.0  # the TB label (and the TB the rays see) is the skull bone within this of the condyle
GUARD_MM = 0.3  # the skull bone keeps at least this gap from the mandible
RANDOM_VOXEL_BUDGET = 12e6
MAX_VOXELS = 40e6


def _draw(rng, fov, mouth, spacing):
    """All random parameters (JSON-friendly dict)."""
    half = float(rng.uniform(45.0, 55.0))
    p = {"joint_distance_mm": 2 * half,
         "pose_deg": [float(v) for v in rng.uniform(-20.0, 20.0, 3)],
         "head_position_mm": [float(v) for v in rng.uniform(-8.0, 8.0, 3)],
         "head_scale": float(rng.uniform(0.93, 1.07)),
         "fov": fov if fov is not None else str(rng.choice(["head", "cbct"])),
         "mouth": mouth if mouth is not None else ("open" if rng.uniform() < 0.3 else "closed")}
    p["cbct_joints"] = str(rng.choice(["left", "right", "both"], p=[0.35, 0.35, 0.3]))
    if p["fov"].startswith("cbct-"):  # a CBCT crop of the named joint only
        p["fov"], p["cbct_joints"] = "cbct", p["fov"][len("cbct-"):]
    p["cbct_half_size_mm"] = [float(v) for v in rng.uniform(25.0, 34.0, 3)]
    p["fov_jitter_mm"] = [float(v) for v in rng.uniform(-5.0, 5.0, 3)]
    inplane, between, iso = rng.uniform(0.5, 1.0), rng.uniform(0.6, 2.0), rng.uniform(0.25, 0.5)
    if p["fov"] == "head":
        p["spacing_mm"] = [float(inplane), float(inplane), float(between)]
    else:
        p["spacing_mm"] = [float(iso)] * 3
    if spacing is not None:
        p["spacing_mm"] = [float(v) for v in spacing]
    p["hu"] = {"cortical": float(rng.uniform(1000, 1800)), "cancellous": float(rng.uniform(200, 600)),
               "soft_tissue": float(rng.uniform(30, 70)), "fat": float(rng.uniform(-120, -80)),
               "brain": float(rng.uniform(25, 45)), "air": -1000.0}
    p["skull_thickness_mm"] = float(rng.uniform(5.0, 8.0))
    p["skull_cortex_mm"] = float(rng.uniform(1.2, 2.2))
    p["fat_thickness_mm"] = float(rng.uniform(3.0, 9.0))
    p["blur_mm"] = float(rng.uniform(0.3, 0.7))
    p["noise_std_hu"] = float(rng.uniform(5.0, 60.0))
    p["streaks_hu"] = float(rng.uniform(30.0, 120.0)) if rng.uniform() < 0.3 else 0.0
    p["mid_floor_thickness_mm"] = float(rng.uniform(6.0, 12.0))
    p["air_cells"] = int(rng.integers(30, 120))
    for side in SIDES:
        s = draw_side(rng, side, half)
        s["mouth"] = p["mouth"]
        s["opening_deg"] = float(rng.uniform(8.0, 20.0)) if p["mouth"] == "open" else 0.0
        s["translation_forward_mm"] = (float(rng.uniform(0.7, 1.0)) * s["eminence_position_mm"]
                                       if p["mouth"] == "open" else 0.0)
        p[side] = s
    return p


def _check_options(fov, mouth, spacing):
    if fov is not None and fov not in FOVS:
        raise InputError("--fov must be one of %s, got %r" % ("|".join(FOVS), fov))
    if mouth is not None and mouth not in MOUTHS:
        raise InputError("--mouth must be one of %s, got %r" % ("|".join(MOUTHS), mouth))
    if spacing is not None:
        if len(spacing) != 3 or not all(np.isfinite(v) and 0.1 <= v <= 3.0 for v in spacing):
            raise InputError("--spacing needs three values between 0.1 and 3 mm, got %s"
                             % " ".join(str(v) for v in spacing))


class HeadAnatomy(object):
    """All shapes of one drawn head, in the head frame (mm)."""

    def __init__(self, p, rng):
        k = p["head_scale"]
        self.floor = SkullFloor({s: p[s] for s in SIDES},
                                {s: p[s]["roof_thickness_mm"] for s in SIDES},
                                p["mid_floor_thickness_mm"])
        self.joints = {s: Joint(s, p[s], self.floor) for s in SIDES}
        skin_r = np.array([78.0, 104.0, 112.0]) * k
        skin_c = [0.0, 12.0, 28.0]
        self.skin = S.Ellipsoid(skin_c, skin_r)
        self.fat = S.Ellipsoid(skin_c, skin_r - 1.5)
        self.muscle = S.Ellipsoid(skin_c, skin_r - 1.5 - p["fat_thickness_mm"])
        sk_r = np.array([67.0, 90.0, 92.0]) * k
        sk_c = [0.0, 10.0, 36.0]
        below_floor = _AboveUnderside(self.floor)
        self.skull_shell = S.Intersection([S.EllipsoidShell(sk_c, sk_r, p["skull_thickness_mm"]),
                                           below_floor])
        self.floor_plate = S.Intersection([self.floor, S.Ellipsoid(sk_c, sk_r)])
        self.brain = S.Intersection([S.Ellipsoid(sk_c, sk_r - p["skull_thickness_mm"]),
                                     _AboveTop(self.floor)])
        self.sphenoid = S.Ellipsoid([0.0, -8.0, -4.0], [13.0, 14.0, 11.0])
        self.spine = S.Union([S.Capsule([0.0, 22.0, -22.0], [0.0, 24.0, -95.0], 8.5),
                              S.RoundBox([0.0, 24.0, -26.0], [24.0, 8.0, 5.0], 3.0)], blend=3.0)
        self.airways = [S.Capsule([0.0, 4.0, -12.0], [0.0, 6.0, -95.0], 7.0),
                        S.RoundBox([0.0, -66.0, -8.0], [10.0, 22.0, 20.0], 4.0),
                        S.Ellipsoid([-30.0, -58.0, -20.0], [12.0, 15.0, 15.0]),
                        S.Ellipsoid([30.0, -58.0, -20.0], [12.0, 15.0, 15.0]),
                        S.Ellipsoid([0.0, -10.0, -4.0], [8.0, 8.0, 6.0])]
        pieces = [self.floor_plate, self.skull_shell, self.sphenoid]
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


class _AboveUnderside(S.Shape):
    """Points above the skull floor's underside (the skull shell stops at the floor)."""

    def __init__(self, floor):
        self.floor = floor

    def f(self, x, y, z):
        zb, sb, _, _ = self.floor.surfaces(x, y)
        return (zb - z) / sb


class _AboveTop(S.Shape):
    """Points above the skull floor's top (the brain)."""

    def __init__(self, floor):
        self.floor = floor

    def f(self, x, y, z):
        _, _, zt, st = self.floor.surfaces(x, y)
        return (zt - z) / st


def _make_grid(p):
    """Grid of the drawn field of view, spacing and pose."""
    rot = S.rotation(*p["pose_deg"])
    t = np.asarray(p["head_position_mm"], float)
    jitter = np.asarray(p["fov_jitter_mm"])
    if p["fov"] == "head":
        centre, half = t + rot.dot([0.0, 8.0, -5.0]), np.array([96.0, 118.0, 66.0])
    elif p["cbct_joints"] == "both":
        centre = t + rot.dot([0.0, 0.0, -4.0]) + jitter
        half = np.array([p["joint_distance_mm"] / 2 + 27.0, 34.0, 30.0])
    else:
        top = np.asarray(p[p["cbct_joints"]]["condyle_top_mm"], float) + [0.0, 0.0, -4.0]
        centre = t + rot.dot(top) + jitter
        half = np.asarray(p["cbct_half_size_mm"])
    spacing = np.asarray(p["spacing_mm"], float)
    size = np.maximum(np.round(2 * half / spacing).astype(int), 1)
    return Grid(centre - 0.5 * (size - 1) * spacing, spacing, size, rot, t)


def _fit_budget(p, user_spacing):
    """Coarsen randomly drawn spacing until the image holds at most RANDOM_VOXEL_BUDGET voxels."""
    grid = _make_grid(p)
    n = float(np.prod(grid.size))
    if user_spacing is not None:
        if n > MAX_VOXELS:
            raise InputError("--spacing %s gives %.0f M voxels for this field of view (limit %d M)"
                             % (" ".join("%g" % v for v in user_spacing), n / 1e6, MAX_VOXELS / 1e6))
        return grid
    while n > RANDOM_VOXEL_BUDGET:
        if p["fov"] == "head":
            p["spacing_mm"][2] = min(2.0, p["spacing_mm"][2] * 1.15)
            if p["spacing_mm"][2] >= 2.0:
                p["spacing_mm"][0] = p["spacing_mm"][1] = p["spacing_mm"][0] * 1.05
        else:
            p["spacing_mm"] = [v * 1.05 for v in p["spacing_mm"]]
        grid = _make_grid(p)
        n = float(np.prod(grid.size))
    return grid


def _render(p, anatomy, grid, rng):
    """The CT (float32 HU) of the drawn head on ``grid``."""
    hu = p["hu"]
    canvas = Canvas(grid, hu["air"])
    canvas.paint(anatomy.skin, hu["soft_tissue"] + 10.0)
    canvas.paint(anatomy.fat, hu["fat"])
    canvas.paint(anatomy.muscle, hu["soft_tissue"])
    canvas.paint(anatomy.brain, hu["brain"])
    canvas.paint_bone(anatomy.spine, hu["cortical"], hu["cancellous"], 1.5)
    canvas.paint_bone(anatomy.skull_bone, hu["cortical"], hu["cancellous"], p["skull_cortex_mm"])
    for side in SIDES:
        j = anatomy.joints[side]
        canvas.paint_bone(j.mandible, hu["cortical"], hu["cancellous"], p[side]["condyle_cortex_mm"])
        canvas.paint(j.meatus, hu["air"])
    for shape in anatomy.airways + anatomy.cells:
        canvas.paint(shape, hu["air"])
    image = canvas.hu
    if p["streaks_hu"] > 0:
        dense = [grid.to_world(j.mastoid.c) - grid.origin for j in anatomy.joints.values()]
        image = add_streaks(rng, image, grid.spacing, np.array(dense)[:, :2], p["streaks_hu"])
    image = blur_and_noise(rng, image, grid.spacing, p["blur_mm"], p["noise_std_hu"])
    return np.clip(np.round(image), -1024, 3071).astype(np.int16)


def _label_side(labels, grid, shape, value, keep=None):
    """Write ``value`` where ``shape`` (head frame) is inside on the CT grid; returns the count."""
    box = grid.index_box(shape.lo, shape.hi)
    if box is None:
        return 0
    x, y, z = grid.head_coordinates(box)
    inside = S.evaluate_culled(shape, x, y, z) < 0
    if keep is not None:
        inside &= keep(x, y, z)
    view = labels[box]
    inside &= view == 0
    view[inside] = value
    return int(inside.sum())


def _mc_box(joint, pad=3.0):
    a, b, c = joint.p["condyle_semi_axes_mm"]
    r = max(a, b) + pad
    lo = np.array([joint.centre[0] - r, joint.centre[1] - r, joint.top_now[2] - 18.0])
    hi = np.array([joint.centre[0] + r, joint.centre[1] + r, joint.top_now[2] + pad])
    return lo, hi


def make_head_phantom(seed=0, fov=None, mouth=None, spacing=None, nv_step_mm=0.2):
    """Generate the head phantom for ``seed`` (see module doc); options override the draws.

    Args:
        seed: integer seed of the random generator.
        fov: "head" (whole head in-plane, skull base +-65 mm), "cbct" (crop around one or both
            joints, fine spacing), "cbct-left" / "cbct-right" (crop of that joint only: the
            other side is null); None draws it.
        mouth: "closed" or "open" (condyles on the eminences); None draws it.
        spacing: (sx, sy, sz) voxel size in mm, or None to draw it.
        nv_step_mm: grid step (mm) of the fine NV / condyle truth integration.
    Returns:
        :class:`Phantom` (ct int16 HU, labels uint8 0-6, truth dict).
    """
    _check_options(fov, mouth, spacing)
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise InputError("--seed must be an integer, got %r" % (seed,))
    if seed < 0:
        raise InputError("--seed must be >= 0, got %d" % seed)
    rng = np.random.default_rng(seed)
    p = _draw(rng, fov, mouth, spacing)
    grid = _fit_budget(p, spacing)
    anatomy = HeadAnatomy(p, rng)
    ct = _render(p, anatomy, grid, rng)

    labels = np.zeros(grid.shape, np.uint8)
    truth = {"kind": "head", "seed": seed, "parameters": p, "max_distance_mm": MAX_DISTANCE_MM,
             "mode": "confined"}
    cells = S.Union(anatomy.cells) if anatomy.cells else None
    for side in SIDES:
        joint = anatomy.joints[side]
        lo, hi = _mc_box(joint)
        nv = JointSpaceTruth(joint.mc, anatomy.tb[side], lo, hi)
        world_pts = grid.to_world(nv.points)
        if grid.misses_world(world_pts) or nv.lo is None:
            truth[side] = None
            continue
        if not grid.contains_world(np.concatenate([world_pts, grid.to_world([nv.lo, nv.hi])]),
                                   margin=0.5):
            truth[side] = None  # cut by the field of view: not measurable, left unlabelled
            continue
        volume, centroid = region_volume_and_centroid(joint.mc, lo, hi, step=nv_step_mm)
        _label_side(labels, grid, joint.mc, CONDYLE[side])
        keep_tb = None
        if cells is not None:
            def keep_tb(x, y, z):
                return S.evaluate_culled(cells, x, y, z) >= 0
        _label_side(labels, grid, anatomy.tb[side], TEMPORAL_BONE[side], keep_tb)
        box = grid.index_box(nv.lo, nv.hi)
        if box is not None:
            x, y, z = grid.head_coordinates(box)
            pts = np.stack([x.ravel(), y.ravel(), z.ravel()], 1).astype(np.float64)
            inside = nv.contains(pts).reshape(x.shape) & (labels[box] == 0)
            labels[box][inside] = NEGATIVE_VOLUME[side]
        truth[side] = {
            "negative_volume_mm3": float(nv.volume(step=nv_step_mm)),
            "condyle_volume_mm3": volume,
            "condyle_center_lps_mm": [float(v) for v in grid.to_world(centroid)],
            "joint_space_superior_mm": p[side]["joint_space_superior_mm"],
            "joint_top_lps_mm": [float(v) for v in grid.to_world(joint.top_now)],
            "temporal_bone_region_center_lps_mm": [float(v) for v in grid.to_world(joint.centre)],
            "temporal_bone_region_radius_mm": TB_RADIUS_MM,
            "ray_hits": nv.ray_hits(),
        }
    return Phantom(grid.image(ct), grid.image(labels), truth)
