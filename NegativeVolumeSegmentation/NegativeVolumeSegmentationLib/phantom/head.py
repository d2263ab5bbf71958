"""Realistic synthetic head CT around both TMJs, with truth from its own implicit geometry.

``make_head_phantom(seed, ...)`` draws every parameter from ``numpy.random.default_rng(seed)``
(same seed and options -> identical output), builds the anatomy (:mod:`.anatomy`) in the head
frame, poses the head in the image (rotations up to ±20° about each axis, identity direction
matrix), chooses the field of view (whole head or a CBCT-like crop) and the voxel spacing, paints
the CT (:mod:`.ct_look`), and labels MC / TB / NV on the CT grid. The NV truth comes from
:mod:`.truth` on the exact implicit shapes (not from the project's NV engine).
"""

import numpy as np

from .case import Phantom
from . import shapes as S
from .anatomy import draw_side
from .ct_look import Canvas, add_streaks, blur_and_noise, trabecular_texture
from .exact_joint import ExactJoint
from .grid import Grid
from .head_anatomy import HeadAnatomy
from .joint_labels import joint_truth, label_and_measure
from .truth import MAX_DISTANCE_MM
from ..engine.joint_bounds import joint_frame, lateral_axis
from ..errors import InputError
from ..labels import SIDES

FOVS = ("head", "cbct", "cbct-left", "cbct-right")
MOUTHS = ("closed", "open")
RANDOM_VOXEL_BUDGET = 8e6
MAX_VOXELS = 40e6


def _draw(rng, fov, mouth, spacing):
    """All random parameters (JSON-friendly dict).

    Every value is drawn whatever the options, so one seed gives the same anatomy with or
    without an option; options then replace the drawn field of view, mouth state or spacing.
    """
    half = float(rng.uniform(45.0, 55.0))
    drawn_fov = str(rng.choice(["head", "cbct"]))
    drawn_mouth = "open" if rng.uniform() < 0.3 else "closed"
    p = {"joint_distance_mm": 2 * half,
         "pose_deg": [float(v) for v in rng.uniform(-20.0, 20.0, 3)],
         "head_position_mm": [float(v) for v in rng.uniform(-8.0, 8.0, 3)],
         "head_scale": float(rng.uniform(0.95, 1.06)),
         "fov": fov if fov is not None else drawn_fov,
         "mouth": mouth if mouth is not None else drawn_mouth}
    p["cbct_joints"] = str(rng.choice(["left", "right", "both"], p=[0.35, 0.35, 0.3]))
    if p["fov"].startswith("cbct-"):  # a CBCT crop of the named joint only
        p["fov"], p["cbct_joints"] = "cbct", p["fov"][len("cbct-"):]
    p["cbct_half_size_mm"] = [float(v) for v in rng.uniform(32.0, 40.0, 3)]
    p["fov_jitter_mm"] = [float(v) for v in rng.uniform(-3.0, 3.0, 3)]
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
    p["skull_thickness_mm"] = float(rng.uniform(3.5, 6.5))
    p["skull_cortex_mm"] = float(rng.uniform(1.2, 2.2))
    p["fat_thickness_mm"] = float(rng.uniform(3.0, 9.0))
    p["blur_mm"] = float(rng.uniform(0.3, 0.7))
    p["noise_std_hu"] = float(rng.uniform(5.0, 60.0))
    streaks, streak_hu = rng.uniform() < 0.3, float(rng.uniform(60.0, 200.0))
    p["streaks_hu"] = streak_hu if streaks else 0.0
    p["mid_floor_thickness_mm"] = float(rng.uniform(6.0, 12.0))
    p["trabecular_hu"] = float(rng.uniform(40.0, 140.0))
    p["trabecular_grain_mm"] = float(rng.uniform(0.5, 0.9))
    p["air_cells"] = int(rng.integers(150, 500))
    for side in SIDES:
        s = draw_side(rng, side, half)
        s["mouth"] = p["mouth"]
        opening, forward = float(rng.uniform(8.0, 20.0)), float(rng.uniform(0.7, 1.0))
        is_open = p["mouth"] == "open"
        s["opening_deg"] = opening if is_open else 0.0
        s["translation_forward_mm"] = forward * s["eminence_position_mm"] if is_open else 0.0
        p[side] = s
    return p


def _check_options(fov, mouth, spacing):
    if fov is not None and fov not in FOVS:
        raise InputError("--fov must be one of %s, got %r" % ("|".join(FOVS), fov))
    if mouth is not None and mouth not in MOUTHS:
        raise InputError("--mouth must be one of %s, got %r" % ("|".join(MOUTHS), mouth))
    if spacing is not None:
        try:
            spacing = [float(v) for v in spacing]
        except (TypeError, ValueError):
            raise InputError("--spacing needs three numbers (mm), got %r" % (spacing,))
        if len(spacing) != 3 or not all(np.isfinite(v) and 0.1 <= v <= 3.0 for v in spacing):
            raise InputError("--spacing needs three values between 0.1 and 3 mm, got %s"
                             % " ".join(str(v) for v in spacing))


def _make_grid(p):
    """Grid of the drawn field of view, spacing and pose."""
    rot = S.rotation(*p["pose_deg"])
    t = np.asarray(p["head_position_mm"], float)
    jitter = np.asarray(p["fov_jitter_mm"])
    if p["fov"] == "head":
        centre, half = t + rot.dot([0.0, 8.0, -5.0]), np.array([96.0, 118.0, 66.0])
    elif p["cbct_joints"] == "both":  # a box around both (posed) joints
        tops = [t + rot.dot(np.asarray(p[s]["condyle_top_mm"]) + [0.0, 0.0, -4.0]) for s in SIDES]
        centre = 0.5 * (tops[0] + tops[1]) + 0.4 * jitter
        half = 0.5 * np.abs(tops[0] - tops[1]) + [27.0, 28.0, 28.0]
    else:
        top = np.asarray(p[p["cbct_joints"]]["condyle_top_mm"], float) + [0.0, 0.0, -4.0]
        centre = t + rot.dot(top) + jitter
        half = np.asarray(p["cbct_half_size_mm"])
    spacing = np.asarray(p["spacing_mm"], float)
    size = np.maximum(np.round(2 * half / spacing).astype(int), 1)
    return Grid(centre - 0.5 * (size - 1) * spacing, spacing, size, rot, t)


def _shifted(grid, shift_mm):
    """``grid`` with its origin moved by ``shift_mm`` (x, y, z mm, LPS); the head stays put."""
    try:
        shift = np.asarray([float(v) for v in shift_mm], float)
    except (TypeError, ValueError):
        raise InputError("grid_shift_mm needs three numbers (mm), got %r" % (shift_mm,))
    if shift.shape != (3,) or not np.all(np.isfinite(shift)):
        raise InputError("grid_shift_mm needs three finite numbers (mm), got %r" % (shift_mm,))
    return Grid(grid.origin + shift, grid.spacing, grid.size, grid.R, grid.t)


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
    """The CT (int16 HU) of the drawn head on ``grid``, and the skull bone's (box, f) field."""
    hu = p["hu"]
    canvas = Canvas(grid, hu["air"])
    box, skin = canvas.field(anatomy.skin)  # fat and muscle: inward offsets of the skin
    canvas.paint_field(box, skin, hu["soft_tissue"] + 10.0)
    canvas.paint_field(box, skin, hu["fat"], inset=anatomy.skin_mm)
    canvas.paint_field(box, skin, hu["soft_tissue"], inset=anatomy.skin_mm + anatomy.fat_mm)
    for side in SIDES:
        canvas.paint(anatomy.joints[side].parotid, hu["fat"] * 0.45)
    canvas.paint(anatomy.brain, hu["brain"])
    skull = canvas.paint_bone(anatomy.skull_bone, hu["cortical"], hu["cancellous"],
                              p["skull_cortex_mm"])  # same voxel box as the brain: floor reused
    canvas.paint_bone(anatomy.spine, hu["cortical"], hu["cancellous"], 1.5)
    for side in SIDES:
        j = anatomy.joints[side]
        canvas.paint_bone(j.mandible, hu["cortical"], hu["cancellous"], p[side]["condyle_cortex_mm"])
        canvas.paint(j.meatus, hu["air"])
    for cell in anatomy.cells:  # thin bright septa between the air cells
        canvas.paint(S.Ellipsoid(cell.c, [cell.radii[0] + 0.45] * 3), hu["cortical"])
    for shape in anatomy.airways + anatomy.cells:
        canvas.paint(shape, hu["air"])
    canvas.add_marrow_texture(trabecular_texture(rng, grid.shape, grid.spacing,
                                                 p["trabecular_hu"], p["trabecular_grain_mm"]))
    image = canvas.hu
    if p["streaks_hu"] > 0:
        dense = [grid.to_world(j.mastoid.c) - grid.origin for j in anatomy.joints.values()]
        image = add_streaks(rng, image, grid.spacing, np.array(dense)[:, :2], p["streaks_hu"])
    image = blur_and_noise(rng, image, grid.spacing, p["blur_mm"], p["noise_std_hu"])
    return np.clip(np.round(image), -1024, 3071).astype(np.int16), skull


def make_head_phantom(seed=0, fov=None, mouth=None, spacing=None, nv_step_mm=0.25,
                      ear_canal=None, grid_shift_mm=None):
    """Generate the head phantom for ``seed`` (see module doc); options override the draws.

    Args:
        seed: integer seed of the random generator.
        fov: "head" (whole head in-plane, skull base +-65 mm), "cbct" (crop around one or both
            joints, fine spacing), "cbct-left" / "cbct-right" (crop of that joint only: the
            other side is null); None draws it.
        mouth: "closed" or "open" (condyles on the eminences); None draws it.
        spacing: (sx, sy, sz) voxel size in mm, or None to draw it.
        nv_step_mm: grid step (mm) of the fine NV / condyle truth integration.
        ear_canal: None or "behind" (the canal inside the tympanic bone, out of the condyle
            rays' reach) or "open" (the canal 2 mm behind the condyle's back, its air open to
            the joint: what reveals NV leaking into air; the truth's rays stop at the canal's
            air either way).
        grid_shift_mm: None or (dx, dy, dz) mm (LPS): the voxel grid moved by that much under
            the same head (same anatomy, pose and truth; its voxels sample it elsewhere, the
            same noise pattern lies on them): the same head scanned with its slices placed
            elsewhere (``benchmarks/subslice_placement.py``). Recorded in the truth's
            parameters.
    Returns:
        :class:`Phantom` (ct int16 HU, labels uint8 0-6, truth dict).
    """
    _check_options(fov, mouth, spacing)
    if ear_canal not in (None, "behind", "open"):
        raise InputError("ear_canal must be 'behind' or 'open', got %r" % (ear_canal,))
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise InputError("--seed must be an integer, got %r" % (seed,))
    if seed < 0:
        raise InputError("--seed must be >= 0, got %d" % seed)
    rng = np.random.default_rng(seed)
    p = _draw(rng, fov, mouth, spacing)
    if ear_canal == "open":  # drawn anatomy unchanged otherwise (no random number is used)
        for side in SIDES:
            p[side]["ear_canal"] = "open"
    grid = _fit_budget(p, spacing)
    if grid_shift_mm is not None:
        grid = _shifted(grid, grid_shift_mm)
        p["grid_shift_mm"] = [float(v) for v in grid_shift_mm]
    anatomy = HeadAnatomy(p, rng)
    ct, skull = _render(p, anatomy, grid, rng)

    labels = np.zeros(grid.shape, np.uint8)
    truth = {"kind": "head", "seed": seed, "parameters": p, "max_distance_mm": MAX_DISTANCE_MM,
             "mode": "confined"}
    prepared = {side: joint_truth(side, anatomy, grid, nv_step_mm) for side in SIDES}
    centres = [None if prepared[s] is None else prepared[s][2] for s in SIDES]
    frame = joint_frame(lateral_axis(*centres))  # SIDES = (left, right)
    for side in SIDES:
        truth[side] = label_and_measure(side, anatomy, grid, labels, skull, nv_step_mm,
                                        prepared[side], frame)
    exact = {side: ExactJoint(prepared[side][0], grid.R, grid.t) for side in SIDES
             if truth[side] is not None}
    return Phantom(grid.image(ct), grid.image(labels), truth, exact)
