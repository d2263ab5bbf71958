"""Negative volume (NV) of both temporomandibular joints from a label map (values 1-4).

For each side (the patient's left / right, decided from physical LPS x, never array order):
crop a region of interest (ROI) around the condyle (MC), build the MC and temporal-bone (TB)
surfaces (:mod:`.surfaces`), inflate the MC along its normals until the TB (:mod:`.inflate`),
fill the NV voxel mask and measure thickness (:mod:`.nv_mask`). Volumes are voxel counts
times the voxel volume (mm^3), so the NV segment shows the same volume in Slicer.
"""

import time

import numpy as np
import SimpleITK as sitk

from . import air as air_rule
from . import (bone_pieces, inflate, joint_bounds, measurement_grid, nv_mask, roof_gaps,
               shape_interpolation, surfaces)
from .labelled_region import (ROI_MARGIN_MM, box_around, crop, label_boxes, label_voxels,
                              labelled_box, lps_points, paste, working_margin_mm)
from .. import labels as L
from ..errors import InputError
from ..options import DEFAULTS

DEFAULT_CUBE_MM = DEFAULTS["cube_mm"]   # mm; one place: options.py
TB_SMOOTHING = surfaces.SMOOTHING_FACTOR
NO_CONDYLE = "%s side: no condyle (label %d) in the label map"   # a side without its condyle


class SideResult(object):
    """One joint: ``values`` (report.json keys, or None) and its meshes (LPS mm vtkPolyData)."""

    def __init__(self, values=None, meshes=None, nv_index=None, relabel=()):
        self.values = values
        self.meshes = meshes or {}
        self.nv_index = nv_index  # (z, y, x) index arrays of the NV voxels on the input grid
        self.relabel = relabel    # [((z, y, x) index arrays, value)]: the condyle as measured


class NegativeVolumeResult(object):
    """``sides`` {side: values dict or None}, ``warnings`` [str], ``labels`` (SimpleITK, 1-6),
    ``meshes`` {side: {"condyle", "temporal_bone", "inflated", "negative_volume"}},
    ``timings_s`` {stage: seconds}; ``swapped``: the labels given named the sides the other way
    round (``labels`` are relabelled to the patient's sides)."""

    def __init__(self, sides, warnings, labels, meshes, timings_s, swapped=False):
        self.sides, self.warnings, self.labels = sides, warnings, labels
        self.meshes, self.timings_s, self.swapped = meshes, timings_s, swapped


def _check_label_image(image):
    if not isinstance(image, sitk.Image):
        raise InputError("label map must be a SimpleITK image, got %s" % type(image).__name__)
    if image.GetDimension() != 3:
        raise InputError("label map must be 3D, got %dD" % image.GetDimension())
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("label map must have one component per voxel")


def _check_labels(image):
    """The label values of ``image`` as a uint8 (z, y, x) array (InputError for others)."""
    arr = sitk.GetArrayFromImage(image)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise InputError("label map holds non-integer values; expected labels 0-6")
    values = np.unique(arr)
    bad = [v for v in values.tolist() if v < 0 or v > 6]
    if bad:
        raise InputError("label map holds values %s; expected 0-6 (1/2 condyle, 3/4 temporal bone)"
                         % ", ".join(str(int(v)) for v in bad[:5]))
    return arr.astype(np.uint8, copy=False)   # a fresh array of the image's voxels


def _centroid(image, kji):
    """LPS mm mean of the voxels ``kji`` ((z, y, x) index arrays); None when there are none."""
    if len(kji[0]) == 0:
        return None
    return lps_points(image, kji).mean(axis=0)


def _side_assignment(image, arr, boxes, warnings):
    """{side: (mc value, tb value)}; swapped (with a warning) when the condyles' x disagree."""
    assign = {L.LEFT: (L.CONDYLE[L.LEFT], L.TEMPORAL_BONE[L.LEFT]),
              L.RIGHT: (L.CONDYLE[L.RIGHT], L.TEMPORAL_BONE[L.RIGHT])}
    c_left = _centroid(image, label_voxels(arr, L.CONDYLE[L.LEFT], boxes))
    c_right = _centroid(image, label_voxels(arr, L.CONDYLE[L.RIGHT], boxes))
    if c_left is not None and c_right is not None and c_left[0] < c_right[0]:
        warnings.append("the condyle labelled left (1) lies at smaller LPS x (the patient's right) "
                        "than the one labelled right (2): labels 1/3 and 2/4 were swapped")
        assign = {L.LEFT: assign[L.RIGHT], L.RIGHT: assign[L.LEFT]}
    return assign


def _ct_reader(ct, resample):
    """Callable (ROI image, its (z, y, x) slices in the measured grid) -> the CT's HU (z, y, x)
    there: a crop of ``ct`` (on that grid), or with ``resample`` the CT resampled onto the ROI
    alone (:func:`.measurement_grid.fine_ct` of the fine grid's part, not of the whole grid:
    ~50 M voxels at 0.3 mm)."""
    if resample:
        return lambda roi_img, sub: sitk.GetArrayFromImage(measurement_grid.fine_ct(ct, roi_img))
    ct_hu = sitk.GetArrayViewFromImage(ct)
    return lambda roi_img, sub: ct_hu[sub]


def _touches_border(kji, shape):
    """Whether voxels ``kji`` ((z, y, x) index arrays) reach a face of a grid of ``shape``."""
    return any(int(k.min()) == 0 or int(k.max()) == n - 1 for k, n in zip(kji, shape))


def _measure_side(side, image, arr, mc_value, tb_value, max_distance, mode, cube_mm, locator,
                  warnings, ct_roi=None, frame=None, boxes=None):
    """Measure one joint; returns a :class:`SideResult` (values None with a warning if it cannot).
    ``ct_roi``: callable (ROI image, its (z, y, x) slices in ``image``) -> the CT's HU there
    (air is found in the joint's ROI only), or None (no CT).
    ``boxes``: :func:`.labelled_region.label_boxes` of ``arr`` (computed when None)."""
    name = "left" if side == L.LEFT else "right"
    timings = {}
    # the condyle's voxels; its mask is kept on the ROI only
    kji = label_voxels(arr, mc_value, label_boxes(arr) if boxes is None else boxes)
    if len(kji[0]) == 0:
        warnings.append(NO_CONDYLE % (name, mc_value))
        return SideResult()
    if _touches_border(kji, arr.shape):
        warnings.append("%s side: the condyle touches the edge of the field of view; its volume "
                        "and negative volume may be cut" % name)
    reach = max_distance if mode != "paper" else max(max_distance, cube_mm / 2.0)
    i0, i1 = box_around(image, kji, reach + ROI_MARGIN_MM)
    del kji
    sub = (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))
    roi_arr = arr[sub]
    mc_label, tb_label = roi_arr == mc_value, roi_arr == tb_value
    if not tb_label.any():
        warnings.append("%s side: no temporal bone (label %d) within %.0f mm of the condyle"
                        % (name, tb_value, reach))
        return SideResult()
    roi_img = crop(image, i0, i1)
    t0 = time.perf_counter()
    # the bones measured (bone_pieces): the condyle's piece in the fossa, the bone's largest
    condyle = bone_pieces.Condyle(mc_label, roi_img.GetSpacing(), tb_label)
    mc_mask = condyle.mask
    tb_mask = bone_pieces.temporal_bone(tb_label & ~mc_mask, roi_img.GetSpacing()) & ~mc_mask
    mc_poly, tb_poly = _bone_surfaces(roi_img, mc_mask, tb_mask)
    timings["surfaces"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rays = None if tb_poly is None else inflate.TemporalBoneRays(tb_poly, locator)
    h, hit = inflate.inflation_lengths(mc_poly, tb_poly, max_distance, mode, locator, rays)
    verts, normals = surfaces.points(mc_poly), surfaces.point_normals(mc_poly)
    tri = surfaces.triangles(mc_poly)
    edges = np.vstack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    areas = surfaces.vertex_areas(mc_poly)
    gaps = np.zeros(len(h), bool)
    if mode != "paper":  # a hole in the segmented fossa roof is not a part facing away
        gaps = roof_gaps.with_rim(roof_gaps.enclosed_misses(hit, edges, areas), verts, hit)
        h, hit = roof_gaps.fill(h, hit, gaps, edges)
    air_roi = None if ct_roi is None else air_rule.air_mask(ct_roi(roi_img, sub))
    if air_roi is not None and air_roi.any():  # a ray that reaches air leaves the joint there
        entry = air_rule.air_entry(roi_img, air_roi, verts, normals, h)
        blocked = np.isfinite(entry)
        if mode == "paper":
            h[blocked] = np.minimum(h[blocked], entry[blocked])
        else:
            h[blocked], hit[blocked] = 0.0, False
    contact_mm2 = float(areas[hit].sum())  # the rays that met the temporal bone, gaps bridged
    if frame is None:
        frame = joint_bounds.joint_frame(joint_bounds.lateral_axis())
    ends = verts[hit] + h[hit, None] * normals[hit]   # where the rays meet the temporal bone
    apex = joint_bounds.fossa_apex(frame, verts, ends)   # Ikeda's S, the rays' highest end
    rays_all = None
    # the landmarks: a caution when the mouth is open; in mode bounded, where the space ends
    bounds = _joint_bounds(frame, roi_img, mc_mask, tb_mask, ends)
    if mode == "bounded":  # only the head under the fossa faces the joint (joint_bounds)
        if not bounds.seated:
            warnings.append("%s side: the condyle is not seated in its fossa (its head is not "
                            "%.0f mm behind the articular eminence's crest: mouth open?); the "
                            "bounded joint space is not defined there"
                            % (name, joint_bounds.MIN_SEATED_BEHIND_MM))
            return SideResult(meshes={"condyle": mc_poly, "temporal_bone": tb_poly})
        facing = bounds.facing_cap(verts, normals, edges)
        rays_all = (h.copy(), hit.copy())  # the linear (Ikeda) spaces do not depend on the mode
        h[~facing], hit[~facing] = 0.0, False
    timings["inflation"] = time.perf_counter() - t0
    if not hit.any():
        msg = ("%s side: no contact: no ray from the condyle meets the temporal bone within "
               "%.1f mm" % (name, max_distance))
        if mode != "paper":
            warnings.append(msg)
            return SideResult(meshes={"condyle": nv_mask.with_thickness(mc_poly, h),
                                      "temporal_bone": tb_poly})
        warnings.append(msg + " (paper mode: every ray inflated to the limit)")

    t0 = time.perf_counter()
    clip = None
    if mode == "paper":
        verts = surfaces.points(mc_poly)
        top = verts[int(np.argmax(verts[:, 2]))]
        clip = (top - cube_mm / 2.0, top + cube_mm / 2.0)
    swept = nv_mask.negative_volume_mask(   # no labelled voxel is joint space
        roi_img, mc_mask | mc_label, tb_mask | tb_label, mc_poly, h, hit, rays, max_distance,
        miss_length=max_distance if mode == "paper" else 0.0, clip_box=clip,
        region=None if mode != "bounded" else bounds.contains,
        facing=None if mode != "bounded" else facing)
    if air_roi is not None:
        swept &= ~air_roi  # air is never joint space
    timings["nv_mask"] = time.perf_counter() - t0

    voxel_mm3 = float(np.prod(image.GetSpacing()))
    roi_kji = np.nonzero(mc_mask)   # the measured condyle (its piece lies in the ROI)
    centre = lps_points(image, (roi_kji[0] + i0[2], roi_kji[1] + i0[1],
                                roi_kji[2] + i0[0])).mean(axis=0)
    js_min, js_mean = nv_mask.thickness_statistics(h, hit)
    ikeda = nv_mask.ikeda_spaces(mc_poly, *(rays_all or (h, hit)), centre_lps=centre,
                                 lateral=frame[0], apex=apex)
    values = {
        "negative_volume_mm3": float(swept.sum() * voxel_mm3),
        "condyle_volume_mm3": float(len(roi_kji[0]) * voxel_mm3),
        "condyle_left_out_mm3": float(condyle.left_out * voxel_mm3),   # other pieces
        "condyle_filled_mm3": float(condyle.filled * voxel_mm3),   # cavities, holes, cracks
        "joint_space_min_mm": js_min,
        "joint_space_mean_mm": js_mean,
        "joint_space_superior_mm": ikeda["superior"],
        "joint_space_anterior_mm": ikeda["anterior"],
        "joint_space_posterior_mm": ikeda["posterior"],
        "condyle_center_lps_mm": [float(v) for v in centre],
        "contact_fraction": float(np.mean(hit)),
        "contact_area_mm2": contact_mm2,
        "roof_gap_mm2": float(areas[gaps].sum()),
        "condyle_vertices": int(len(h)),
        "mode": mode,
        "max_distance_mm": float(max_distance),
        "timings_s": timings,
    }
    values["joint_bounds"] = bounds.summary()
    meshes = {
        "condyle": nv_mask.with_thickness(mc_poly, h),
        "temporal_bone": tb_poly,
        "inflated": nv_mask.inflated_surface(mc_poly, h),
    }
    # shown only (the NV is the voxels): flying edges' own triangles
    nv_poly = surfaces.mask_surface(_mask_image(roi_img, swept), clean=False, canonical=False)
    if nv_poly is not None:
        meshes["negative_volume"] = nv_poly
    kji = np.nonzero(swept)
    nv_index = (kji[0] + i0[2], kji[1] + i0[1], kji[2] + i0[0])
    return SideResult(values, meshes, nv_index,
                      bone_pieces.as_measured(roi_arr, mc_mask, mc_value, i0))


def _bone_surfaces(roi_img, mc_mask, tb_mask):
    """(MC mesh, TB mesh), LPS mm. On a coarse grid (:func:`.shape_interpolation.is_coarse`)
    both are built on the fine grid of the interpolated shapes (docs/method.md, "Clinical CT
    grids"), with the same smoothing as on a fine CT grid."""
    mask_img, masks = roi_img, (mc_mask, tb_mask)
    if shape_interpolation.is_coarse(roi_img):
        mask_img, masks = shape_interpolation.fine_masks(roi_img, masks)
        masks = (bone_pieces.Condyle(masks[0], mask_img.GetSpacing()).mask,   # pieces, as on
                 bone_pieces.temporal_bone(masks[1], mask_img.GetSpacing()))  # the given grid
    return (surfaces.mask_surface(_mask_image(mask_img, masks[0]), clean=False),
            surfaces.mask_surface(_mask_image(mask_img, masks[1]), smoothing=TB_SMOOTHING,
                                  clean=False))


def _joint_bounds(frame, roi_img, mc_mask, tb_mask, ray_ends):
    """:class:`.joint_bounds.JointBounds` from the unsmoothed voxel-face surfaces of the masks
    and the ends (LPS mm) of the rays that met the temporal bone (the apex is read on those).

    Rims, poles and the condyle top are extreme points. Smoothing pulls a convex crest or pole
    inwards (by ~0.3-0.5 mm on 1.5-2 mm slices); the voxel faces halfway between an inside and an
    outside voxel centre are unbiased on average, so the bounds do not move with the grid."""
    faces = [surfaces.mask_surface(_mask_image(roi_img, m), smoothing=0.0, canonical=False,
                                   clean=False) for m in (mc_mask, tb_mask)]
    mc_pts, tb_pts = [np.zeros((0, 3)) if f is None else surfaces.points(f) for f in faces]
    return joint_bounds.JointBounds(frame, mc_pts, tb_pts, ray_ends)


def _mask_image(reference, mask):
    """A uint8 SimpleITK image of boolean ``mask`` (z, y, x) on ``reference``'s grid."""
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.CopyInformation(reference)
    return img


def measure_negative_volume(label_image, max_distance=inflate.DEFAULT_MAX_DISTANCE_MM,
                            mode=DEFAULTS["mode"], cube_mm=DEFAULT_CUBE_MM,
                            locator=inflate.DEFAULT_LOCATOR, ct=None, fine_masks=None,
                            head_lateral=None, grid_corner=None):
    """NV of both joints from a label map holding 1-4 (5/6, if present, are recomputed).

    Args:
        label_image: SimpleITK integer image, any origin / spacing / direction.
        max_distance: longest inflation ray (mm).
        mode: "confined" (default: rays that miss the TB give 0), "bounded" (the same rays,
            the NV ending at the joint's rims and the condylar poles, :mod:`.joint_bounds`) or
            "paper" (min(hit, max_distance), NV clipped by a cube of
            ``cube_mm`` centred on the condyle top).
        cube_mm: edge of the paper-mode clipping cube (mm).
        locator: what casts the rays: "numpy" (default, the same on every VTK) or a VTK
            locator kind (see :mod:`.inflate`).
        ct: the CT (SimpleITK, HU) on the label map's grid, when known: rays stop at air and
            no air voxel is NV (:mod:`.air`). Without it the label map is measured as it is.
        fine_masks: optional callable (condyle label value, ROI image, MC mask, TB mask,
            reference image) -> (MC mask, TB mask) on the reference's grid, or None: finer
            shapes of the labelled bones (the pipeline's come from the segmentation network's
            probabilities, ``inference/fine_masks.py``). With it, a grid coarser than 0.3 mm is
            measured on the 0.3 mm grid of :mod:`.measurement_grid`, and the returned label map
            lies on that grid (over the labelled part) instead of the input's.
        grid_corner: the LPS point (mm) that 0.3 mm grid's voxels are laid from, whole steps
            away (:func:`.shape_interpolation.grid_corner`), or None: the corner of the labelled
            part of ``label_image``, which grows with ``max_distance`` (the pipeline passes a
            corner that does not: :func:`..pipeline.run_case`).
        head_lateral: the head's own left-right axis (unit LPS vector towards the patient's
            left: the normal of its mid-sagittal plane), or None. Both joints' frames (Ikeda's
            anterior and posterior spaces, the fossa's landmarks and the bounded joint space
            are read in them) are built on :func:`.joint_bounds.joints_axis` of the condyles'
            centres and this axis (report.json: ``joint_bounds.lateral_axis_lps``,
            ``lateral_axis_from``).

    Returns:
        :class:`NegativeVolumeResult`. A side that cannot be measured is None, with the reason in
        ``warnings``.
    """
    if mode not in inflate.MODES:
        raise InputError("unknown mode %r; expected %s" % (mode, ", ".join(inflate.MODES)))
    if not (max_distance > 0):
        raise InputError("max distance must be positive, got %r mm" % (max_distance,))
    if mode == "paper" and not (cube_mm > 0):
        raise InputError("clipping cube must be positive, got %r mm" % (cube_mm,))
    start = time.perf_counter()
    _check_label_image(label_image)
    # work on the labelled part of the grid (plus the rays' reach): a 0.2 mm CBCT's full-size
    # copies would not fit in memory; the result is pasted back onto the whole grid
    full = label_image
    box = labelled_box(full, working_margin_mm(max_distance, mode, cube_mm))
    if box is not None and np.all(box[0] == 0) and np.all(box[1] == np.asarray(full.GetSize())):
        box = None
    if box is not None:
        label_image = crop(full, *box)
        ct = None if ct is None else crop(ct, *box)
    arr = _check_labels(label_image)
    arr[arr >= 5] = 0   # NV labels of an earlier run are recomputed
    warnings = []
    boxes = label_boxes(arr)
    assign = _side_assignment(label_image, arr, boxes, warnings)
    timings = {}
    on_fine_grid = fine_masks is not None and measurement_grid.needs_fine_grid(label_image)
    if on_fine_grid:
        t0 = time.perf_counter()
        margin = working_margin_mm(max_distance, mode, cube_mm)
        joints = []
        for side in L.SIDES:
            kji = label_voxels(arr, assign[side][0], boxes)
            if len(kji[0]):
                joints.append(assign[side] + (box_around(label_image, kji, margin),))
            del kji
        grid, arr = measurement_grid.fine_labels(label_image, arr, joints, fine_masks,
                                                 grid_corner)
        label_image, full, box = grid, None, None   # the result stays on the fine grid
        boxes = label_boxes(arr)   # of the fine grid's labels
        timings["fine_grid"] = time.perf_counter() - t0
    ct_roi = None if ct is None else _ct_reader(ct, resample=on_fine_grid)
    centres = {side: _centroid(label_image, label_voxels(arr, assign[side][0], boxes))
               for side in L.SIDES}
    lateral, lateral_from = joint_bounds.joints_axis(centres[L.LEFT], centres[L.RIGHT],
                                                     head_lateral)
    pair = joint_bounds.pair_axis(centres[L.LEFT], centres[L.RIGHT])
    if pair is not None and lateral_from == joint_bounds.HEAD_PLANE:
        warnings.append("the line through the two condyles' centres leans %.1f degrees from the "
                        "head's left-right axis (over %.0f: an asymmetric mandible, or a condyle "
                        "taken from other bone); both joints' frames follow the head's axis"
                        % (joint_bounds.lean_deg(pair, lateral), joint_bounds.MAX_PAIR_LEAN_DEG))
    frame = joint_bounds.joint_frame(lateral)
    sides, meshes = {}, {}
    for side in L.SIDES:
        mc_value, tb_value = assign[side]
        res = _measure_side(side, label_image, arr, mc_value, tb_value, max_distance, mode,
                            cube_mm, locator, warnings, ct_roi, frame, boxes)
        sides[side] = res.values
        meshes[side] = res.meshes
        if res.values is not None:
            res.values["joint_bounds"].update(lateral_axis_lps=[float(v) for v in frame[0]],
                                              lateral_axis_from=lateral_from)
            for stage, sec in res.values["timings_s"].items():
                timings[stage] = timings.get(stage, 0.0) + sec
        for index, value in res.relabel:   # the condyle as measured (the other side reads only
            arr[index] = value                # its own MC and TB values)
        if res.nv_index is not None:  # written into the labels themselves (no copy): the
            free = arr[res.nv_index] == 0  # other side reads only its own MC and TB values
            arr[tuple(ix[free] for ix in res.nv_index)] = L.NEGATIVE_VOLUME[side]
    swapped = assign[L.LEFT][0] != L.CONDYLE[L.LEFT]
    if swapped:  # relabel to the patient's sides
        relabel = np.arange(256, dtype=np.uint8)
        for side in L.SIDES:
            relabel[assign[side][0]], relabel[assign[side][1]] = L.CONDYLE[side], L.TEMPORAL_BONE[side]
        arr = relabel[arr]
    merged = sitk.GetImageFromArray(arr)
    merged.CopyInformation(label_image)
    merged = paste(full, merged, box)
    timings["total"] = time.perf_counter() - start
    return NegativeVolumeResult(sides, warnings, merged, meshes, timings, swapped)
