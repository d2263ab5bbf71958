"""Labels (MC, TB, NV) of one joint on the CT grid and its truth numbers, from implicit shapes.

MC = the mandible above the plane 15 mm below the condyle top; TB = skull bone within
``TB_RADIUS_MM`` of the condylar head's centre, without its air cells; NV = the points of
:class:`.truth.JointSpaceTruth` (docs/method.md step 3, confined, 10 mm) at the voxel centres.
Truth volumes come from a fine grid (``nv_step_mm``), never from the CT-grid labels; the bounded
NV (mode "bounded") is measured too, with the rims found on the exact surfaces.
"""

import numpy as np

from . import shapes as S
from .head_anatomy import TB_RADIUS_MM
from .rasterize import field, prune
from .truth import JointSpaceTruth, region_volume_and_centroid
from ..labels import CONDYLE, NEGATIVE_VOLUME, TEMPORAL_BONE


def _crop_field(src_box, src_f, box):
    """f on ``box`` taken from a field computed on ``src_box`` (FAR where not covered)."""
    out = np.full(tuple(s.stop - s.start for s in box), S.FAR, np.float32)
    rel_dst, rel_src = [], []
    for a, b in zip(box, src_box):
        start, stop = max(a.start, b.start), min(a.stop, b.stop)
        if stop <= start:
            return out
        rel_dst.append(slice(start - a.start, stop - a.start))
        rel_src.append(slice(start - b.start, stop - b.start))
    out[tuple(rel_dst)] = src_f[tuple(rel_src)]
    return out


def _write(labels, box, inside, value):
    view = labels[box]
    view[inside & (view == 0)] = value


def joint_truth(side, anatomy, grid, nv_step_mm):
    """(truth classifier, condyle volume mm³, condyle centroid in LPS mm) of one joint, or None
    when its condyle or unbounded NV region is not wholly in the image."""
    joint = anatomy.joints[side]
    ball = S.Ellipsoid(joint.centre, [TB_RADIUS_MM] * 3)
    tb = prune(anatomy.tb[side], ball.lo, ball.hi)
    mc = prune(joint.mc, joint.mc.lo, joint.mc.hi)
    nv = JointSpaceTruth(mc, tb, joint.mc.lo, joint.mc.hi, air_fn=joint.meatus)
    world_pts = grid.to_world(nv.points)
    if nv.lo is None or grid.misses_world(world_pts):
        return None
    corners = [[x, y, z] for x in (nv.lo[0], nv.hi[0]) for y in (nv.lo[1], nv.hi[1])
               for z in (nv.lo[2], nv.hi[2])]
    if not grid.contains_world(np.concatenate([world_pts, grid.to_world(corners)]), margin=0.5):
        return None  # cut by the field of view: not measurable, left unlabelled
    volume, centroid = region_volume_and_centroid(mc, joint.mc.lo, joint.mc.hi, step=nv_step_mm)
    return nv, volume, grid.to_world(centroid)


def label_and_measure(side, anatomy, grid, labels, skull_field, nv_step_mm, prepared,
                      frame_lps):
    """Label one joint into ``labels`` (numpy z, y, x) and return its truth dict, or None.

    ``prepared``: :func:`joint_truth`'s answer (None: nothing labelled, truth None).
    ``skull_field``: (box, f) of the skull bone on the CT grid, as painted. ``frame_lps``:
    the joint frame rows (m, p, s) in LPS (:func:`..engine.joint_bounds.joint_frame`).
    """
    if prepared is None:
        return None
    nv, volume, centroid_lps = prepared
    joint = anatomy.joints[side]
    ball = S.Ellipsoid(joint.centre, [TB_RADIUS_MM] * 3)
    mc = prune(joint.mc, joint.mc.lo, joint.mc.hi)

    box = grid.index_box(joint.mc.lo, joint.mc.hi)
    _write(labels, box, field(mc, grid, box) < 0, CONDYLE[side])

    box = grid.index_box(ball.lo, ball.hi)
    if box is not None:
        bone = _crop_field(skull_field[0], skull_field[1], box) < 0
        kz, jy, ix = [np.arange(s.start, s.stop) for s in box]
        wx, wy, wz = [grid.origin[k] + idx * grid.spacing[k] for k, idx in enumerate((ix, jy, kz))]
        centre = grid.to_world(joint.centre)
        near = ((wx[None, None, :] - centre[0]) ** 2 + (wy[None, :, None] - centre[1]) ** 2
                + (wz[:, None, None] - centre[2]) ** 2) < TB_RADIUS_MM ** 2
        inside = bone & near
        cells = [c for c in anatomy.cells
                 if np.all(c.lo <= ball.hi) and np.all(c.hi >= ball.lo)]
        if cells:
            inside &= field(S.Union(cells), grid, box) >= 0
        _write(labels, box, inside, TEMPORAL_BONE[side])

    box = None if nv.lo is None else grid.index_box(nv.lo, nv.hi)
    if box is not None:
        x, y, z = grid.head_coordinates(box)
        pts = np.stack([x.ravel(), y.ravel(), z.ravel()], 1).astype(np.float64)
        _write(labels, box, nv.contains(pts).reshape(x.shape), NEGATIVE_VOLUME[side])

    confined = float(nv.volume(step=nv_step_mm))
    bounds = nv.bound(np.asarray(frame_lps, float) @ grid.R)  # frame rows in head-frame axes
    rim = bounds.summary()
    bounded = None
    if bounds.seated:
        bounded = float(nv.volume(step=nv_step_mm)) if nv.lo is not None else 0.0
    return {
        "negative_volume_mm3": confined,
        "negative_volume_bounded_mm3": bounded,
        "condyle_volume_mm3": volume,
        "condyle_center_lps_mm": [float(v) for v in centroid_lps],
        "eminence_depth_mm": rim["eminence_depth_mm"],
        "postglenoid_depth_mm": rim["postglenoid_depth_mm"],
        "apex_height_mm": rim["apex_height_mm"],
        "head_behind_eminence_mm": rim["head_behind_eminence_mm"],
        "joint_space_superior_mm": joint.p["joint_space_superior_mm"],
        "joint_top_lps_mm": [float(v) for v in grid.to_world(joint.top_now)],
        "temporal_bone_region_center_lps_mm": [float(v) for v in grid.to_world(joint.centre)],
        "temporal_bone_region_radius_mm": TB_RADIUS_MM,
        "ray_hits": nv.ray_hits(),
        "rays_into_air": int(nv.air_blocked.sum()),  # rays that met the ear canal's air first
    }
