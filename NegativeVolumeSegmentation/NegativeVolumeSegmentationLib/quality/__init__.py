"""Quality gate: which joints of a case can be measured at all. No number is better than a wrong one.

Two levels (docs/method.md, "Quality gate", has the table of every check, its limit and why):

- **scan** (:func:`check_scan`, right after reading, before any network runs): voxel grid fine
  enough for a joint space of 2-3 mm, and a CT in Hounsfield units (air, bone, not 8-bit data).
- **side** (:func:`check_side`, after measuring): the joint lies inside the field of view
  (:mod:`.field_of_view`), the condyle sits under a temporal bone, the bones do not touch over a
  large area, no metal is in the joint (:mod:`.metal`, with a CT), the CT's slices at the joint
  were measured, not interpolated or copied (:mod:`.made_slices`), its noise there lets the
  fossa roof be seen (:mod:`.noise`), and (for the segmentations
  this pipeline makes, whose MC extent is defined) the condyle volume is adult. A condyle on
  its articular eminence (mouth open) is a caution.

A failed check gives a one-line reason and the side (or, at scan level, both sides) becomes
not measurable: ``null`` in report.json, with ``quality[side] = {"measurable": false, "reason"}``.
A merely imperfect scan keeps its numbers with a line in ``cautions``. Lengths in mm, volumes in
mm^3 (cm^3 where named), areas in mm^2, points in LPS mm (+z superior). numpy + SimpleITK only.
"""

import SimpleITK as sitk

from .. import labels as L
from ..engine.joint_bounds import MIN_SEATED_BEHIND_MM
from ..engine.labelled_region import label_boxes, labelled_box, part_around
from ..field_of_view import (JOINT_MARGIN_MM, air_edge_reason, field_of_view_reason,
                             superior_axis)
from ..hounsfield import check_intensities
from ..metal import check_metal
from ..options import DEFAULTS
from ..slice_detail import slice_detail_mm
from .made_slices import check_made_slices
from .noise import check_noise
from .segmentation import (CONDYLE_MAX_MM3, CONDYLE_MIN_MM3, CONTACT_AREA_MAX_MM2,  # noqa: F401
                           CONTACT_MIN_SPACE_MM, MAX_MIN_SPACE_MM, ROOF_HEIGHT_MM,
                           ROOF_RADIUS_MM, TB_MIN_THICK, condyle_pieces_caution,
                           condyle_volume_reason, contact_area_mm2, contact_reason, roof_reason,
                           solid_bone_reason, space_reason)

# --- scan level: the voxel grid (slices = the voxel edge along the head's long axis, LPS z; the
#     other two = in-plane pixel: the same scan reads the same in whatever order it is stored)
SLICE_MAX_MM = 2.0          # superior joint space 2.5 +- 0.5 mm (Ikeda): thicker slices hold
                            # under one slice across it, so fossa and condyle blur together
SLICE_CAUTION_MM = 1.0      # 1.5-2 mm slices: the same heads with their slices placed
                            # elsewhere read -5.8 .. +4.9 % end to end (a CT), -9.2 .. +6.0 %
                            # from their true labels (a label map) (method.md)
SLICE_UNCERTAINTY_PERCENT = {"ct": 6, "label map": 9}   # what that caution says
INPLANE_MAX_MM = 1.5        # anterior joint space 1.3 +- 0.2 mm: a wider pixel cannot hold a
                            # free voxel across it; a 15-20 mm condyle would be ~10 pixels wide
INPLANE_CAUTION_MM = 0.8    # 1 mm pixels: NV from true labels -2.4 .. +4.0 % per joint
INPLANE_UNCERTAINTY_PERCENT = 5   # what that caution says
BOUNDED_MAX_MM = 0.5        # mode bounded: 0.1 mm of the facing part's edge moves its NV by
#                             10-25 mm3; clinical grids gave errors beyond 5 % (method.md)
DETAIL_MARGIN = 1.25        # the slices' detail read from the image (.slice_detail) is judged
                            # as slices of detail / 1.25: the same slices read 0.64-1.03 x their
                            # thickness on the real head, 1.15-1.25 x on a noise texture; real
                            # head NV within 3.0 % up to 2.5 mm, -4.8 .. -21 % from 2.67 mm
GRID_TOLERANCE_MM = 0.01    # grid edges worked out from DICOM slice positions carry float noise
                            # (2.0001 mm): a nominal limit's scan is judged at the limit
MIN_VOXEL_MM = 0.005        # head CT and CBCT voxels are 0.075-5 mm, a micro-CT's of a specimen
                            # 0.005-0.05: a voxel edge under this is not in mm (a header written
                            # in metres reads 0.0001-0.001)
SLICE_THICKNESS_TAG = "0018|0050"   # DICOM Slice Thickness, when the reader kept it
COMPARE_SIDES = "; compare left with right on this scan only"   # a grid caution's advice, for
#                                                                  a case with both sides kept

# --- side level: the segmented bones (.segmentation), the field of view's margins
#     (.field_of_view), metal (.metal)
CHECK_REACH_MM = max(JOINT_MARGIN_MM, ROOF_HEIGHT_MM + ROOF_RADIUS_MM)  # what the side checks read
ROOF_GAP_CAUTION_MM2 = 25.0  # condyle area under gaps of the segmented fossa roof, bridged from
                            # the rays around them (engine/roof_gaps.py): over a 5 x 5 mm patch
                            # (2 mm slices of the phantoms: 7-33 mm2) say so
ROOF_GAP_MAX_FRACTION = 0.5  # ... more than half the contact bridged: the roof is mostly not
                            # segmented, and the joint space would be more guess than measurement
# --- scan level: is it a CT in Hounsfield units, its bone not clipped? (.hounsfield)



class Verdict(object):
    """``reasons`` (why not measurable; empty: measurable) and ``cautions`` (one-line strings)."""

    def __init__(self, reasons=(), cautions=()):
        self.reasons, self.cautions = list(reasons), list(cautions)

    @property
    def measurable(self):
        return not self.reasons

    @property
    def reason(self):
        return "; ".join(self.reasons) if self.reasons else None


def units_reason(image):
    """Reason when a voxel edge of ``image`` is under MIN_VOXEL_MM (its header's sizes are not
    in mm), else None."""
    edges = image.GetSpacing()
    if min(edges) >= MIN_VOXEL_MM:
        return None
    return ("voxels of %s mm (head CT and CBCT voxels are 0.075-5 mm, micro-CT's from 0.005): the "
            "voxel sizes are not in mm (metres?)" % " x ".join("%.3g" % e for e in edges))


def check_grid(image, mode=DEFAULTS["mode"], label_map=False, slice_detail=None):
    """Verdict on the voxel grid alone (slice spacing / thickness, in-plane pixel size); mode
    "bounded" also needs voxels of at most ``BOUNDED_MAX_MM`` on every axis. ``label_map``: the
    numbers come from a given label map (no CT intensities to place the surfaces between the
    slices), whose uncertainty on thick slices is larger. ``slice_detail``: the thickness (mm) of
    the slices whose detail the CT on this grid holds (:func:`.slice_detail.slice_detail_mm`),
    judged as the slice spacing when it is the larger."""
    edges = [float(s) for s in image.GetSpacing()]
    reason = units_reason(image)
    if reason:
        return Verdict([reason])
    if image.HasMetaDataKey(SLICE_THICKNESS_TAG):   # of the axis the series was stacked along
        try:
            edges[2] = max(edges[2], float(image.GetMetaData(SLICE_THICKNESS_TAG).strip()))
        except ValueError:
            pass
    reasons, cautions = [], []
    axis = superior_axis(image)[0]
    slices = edges[axis]
    spacing = sorted(e for i, e in enumerate(edges) if i != axis)   # in-plane pixel edges
    inplane = spacing[1]
    seen, scale, of = "slices %.3g mm" % slices, 1.0, ""
    if slice_detail is not None and slice_detail > DETAIL_MARGIN * max(slices, SLICE_CAUTION_MM):
        seen += (" holding the detail of ~%.2g mm slices (resampled from thicker ones?)"
                 % slice_detail)   # judged as slices of detail / DETAIL_MARGIN: the limits
        slices, scale, of = slice_detail / DETAIL_MARGIN, DETAIL_MARGIN, " of detail"
    if slices > SLICE_MAX_MM + GRID_TOLERANCE_MM:
        reasons.append("%s (limit %.3g mm%s): the 2-3 mm joint space is not resolved"
                       % (seen, SLICE_MAX_MM * scale, of))
    elif slices > SLICE_CAUTION_MM + GRID_TOLERANCE_MM:
        cautions.append(("%s (over %.3g mm%s): negative volume %suncertain by up to "
                         "~%d %%" + COMPARE_SIDES)
                        % (seen, SLICE_CAUTION_MM * scale, of,
                           "from a label map " if label_map else "",
                           SLICE_UNCERTAINTY_PERCENT["label map" if label_map else "ct"]))
    if inplane > INPLANE_MAX_MM + GRID_TOLERANCE_MM:
        reasons.append("in-plane pixels %.3g x %.3g mm (limit %.3g mm): the joint space is "
                       "narrower than a pixel" % (spacing[0], spacing[1], INPLANE_MAX_MM))
    elif inplane > INPLANE_CAUTION_MM + GRID_TOLERANCE_MM:
        cautions.append(("in-plane pixels %.3g x %.3g mm (over %.3g mm): negative volume "
                         "uncertain by up to ~%d %%" + COMPARE_SIDES)
                        % (spacing[0], spacing[1], INPLANE_CAUTION_MM,
                           INPLANE_UNCERTAINTY_PERCENT))
    if mode == "bounded" and max(inplane, slices) > BOUNDED_MAX_MM + GRID_TOLERANCE_MM:
        reasons.append("mode bounded needs voxels of at most %.3g mm (the edge of its joint "
                       "space is not reliable on coarser grids); this scan %.3g x %.3g x %.3g "
                       "mm: use mode confined"
                       % (BOUNDED_MAX_MM, spacing[0], spacing[1], edges[axis]))
    return Verdict(reasons, cautions)


def ct_slice_detail(ct):
    """Thickness (mm) of the slices whose detail ``ct`` holds along its slice axis (the array
    axis nearest the patient's superior axis), or None (:func:`.slice_detail.slice_detail_mm`)."""
    return slice_detail_mm(ct, superior_axis(ct)[0])


def check_scan(image, intensities=True, mode=DEFAULTS["mode"], acquired=None, ct_detail=None):
    """Scan-level Verdict: :func:`check_grid` plus, for a CT, :func:`.hounsfield.check_intensities`
    and the detail its slices hold (:func:`.slice_detail.slice_detail_mm`). ``intensities``
    False: ``image`` is a label map (no intensities to check; its caution for thick slices is the
    label map's). ``acquired``: the CT's own grid when ``image`` (a label map) lies on another
    one: a label map on a finer grid cannot resolve more than the scan did, so both grids are
    checked. ``ct_detail``: for a label map, the slice detail (mm) of its CT (on ``acquired``,
    or on ``image``'s grid when ``acquired`` is None), when a CT came with it."""
    if intensities:
        ct_detail = ct_slice_detail(image)
    verdict = check_grid(image, mode, label_map=not intensities,
                         slice_detail=None if acquired is not None else ct_detail)
    if acquired is not None:
        more = check_grid(acquired, mode, label_map=not intensities, slice_detail=ct_detail)
        verdict.reasons += [r for r in more.reasons if r not in verdict.reasons]
        verdict.cautions += [c for c in more.cautions if c not in verdict.cautions]
    if intensities:
        reasons, cautions = check_intensities(image)
        verdict.reasons.extend(reasons)
        verdict.cautions.extend(cautions)
    if verdict.reasons:
        verdict.cautions = []   # nothing is measured, so nothing to be cautious about
    return verdict


# --- side level --------------------------------------------------------------------------


def check_side(label_array, image, side, values, volume_decides=True):
    """Side-level Verdict for a measured side.

    Args:
        label_array: (z, y, x) label map on ``image``'s grid, values of :mod:`.labels` for the
            patient's sides (as the NV engine returns it).
        image: SimpleITK image giving the grid (spacing, origin, direction).
        values: the side's report values (``condyle_volume_mm3``, ``joint_space_min_mm``).
        volume_decides: the segmentation is this pipeline's (MC extent as docs/method.md): a
            condyle volume outside the adult range, or a narrowest joint space beyond any
            joint's (:func:`.segmentation.space_reason`), makes the side not measurable, and so does a
            field of view ending within the networks' margins (:mod:`.field_of_view`); False (a
            user's label map, which may define the condyle's extent otherwise and was not
            segmented by the network near the image's edge): the volume and the space a caution
            only, the 5 mm margin alone.
    """
    mc = label_array == L.CONDYLE[side]
    if not mc.any():
        return Verdict(["no condyle segmented on this side"])
    reasons, cautions = [], []
    cut = field_of_view_reason(image, mc, network_margins=volume_decides)
    if cut:
        reasons.append(cut)
    part, crop = part_around(label_array, image, label_boxes(label_array).get(L.CONDYLE[side]),
                             ROOF_HEIGHT_MM + ROOF_RADIUS_MM)
    mc_box, tb_box = part == L.CONDYLE[side], part == L.TEMPORAL_BONE[side]
    for reason in (roof_reason(crop, mc_box, tb_box), solid_bone_reason(crop, tb_box),
                   contact_reason(crop, mc_box, tb_box, values.get("joint_space_min_mm"))):
        if reason:
            reasons.append(reason)
    for reason in (condyle_volume_reason(values.get("condyle_volume_mm3")),
                   space_reason(values.get("joint_space_min_mm"))):
        if reason:
            (reasons if volume_decides else cautions).append(reason)
    gap, contact = values.get("roof_gap_mm2") or 0.0, values.get("contact_area_mm2") or 0.0
    if contact > 0 and gap > ROOF_GAP_MAX_FRACTION * contact:
        reasons.append("the fossa roof is missing from the segmentation over %.0f %% of the "
                       "condyle's contact (%.0f mm2): no joint space to measure there"
                       % (100.0 * gap / contact, gap))
    elif gap > ROOF_GAP_CAUTION_MM2:
        cautions.append("fossa roof gaps bridged over %.0f mm2 of the condyle (%.0f %% of its "
                        "contact)" % (gap, 100.0 * gap / max(contact, 1e-9)))
    pieces = condyle_pieces_caution(values)
    if pieces:
        cautions.append(pieces)
    seat = seat_caution(values.get("joint_bounds"))
    if seat:
        cautions.append(seat)
    return Verdict(reasons, ["%s side: %s" % (side, c) for c in cautions])


def seat_caution(bounds):
    """Caution when the condylar head rides on its articular eminence (``bounds``: a side's
    ``joint_bounds`` summary, :meth:`.engine.joint_bounds.JointBounds.summary`; its centre less
    than ``MIN_SEATED_BEHIND_MM`` behind the crest, front to back in the joint's frame), else
    None. Joint spaces are read with the teeth together; with the mouth open the condyle glides
    forwards onto the eminence, and the same joint reads another NV (docs/method.md, "A condyle
    on its eminence")."""
    if not bounds or not bounds.get("on_eminence"):
        return None
    return ("the condyle is not seated in its fossa: its head %.1f mm behind the articular "
            "eminence's crest (seated: at least %.0f mm): mouth open? The joint space is read "
            "with the teeth together" % (bounds["head_behind_eminence_mm"], MIN_SEATED_BEHIND_MM))


# --- applying the gate to a case ---------------------------------------------------------


def _engine_reason(side, warnings):
    """Why the engine or the localiser left ``side`` null: its first warning naming the side."""
    prefix = "%s side: " % side
    for line in warnings:
        if line.startswith(prefix):
            return line[len(prefix):]
    for line in warnings:
        if " %s " % side in " %s " % line.replace(",", " ").replace(":", " "):
            return line
    return "not found in the image"


def side_status(sides, warnings=(), verdicts=None, scan=None):
    """report.json's ``quality``: {"scan": {"measurable", "reason"}, side: {"measurable",
    "reason"} for each side}. A side is measurable when it has values and neither the scan nor
    its own Verdict (``verdicts[side]``) failed."""
    verdicts = verdicts or {}
    block = {"scan": {"measurable": scan is None or scan.measurable,
                      "reason": None if scan is None else scan.reason}}
    for side in L.SIDES:
        verdict = verdicts.get(side)
        if scan is not None and not scan.measurable:
            reason = scan.reason
        elif verdict is not None and not verdict.measurable:
            reason = verdict.reason
        elif sides.get(side) is None:
            reason = _engine_reason(side, warnings)
        else:
            reason = None
        block[side] = {"measurable": reason is None, "reason": reason}
    return block


def _judge_pair(verdicts, sides, pair_reasons, stands_alone):
    """The pair's ``pair_reasons`` withhold both sides when each passes on its own; when one of
    two fails on its own, the other is measured on its own (a caution) if ``stands_alone``
    (callable(values) -> bool, or None: never) confirms its place, else withheld too."""
    if not pair_reasons or len(verdicts) < 2:
        return
    passing = [side for side in L.SIDES if verdicts[side].measurable]
    for side in passing:
        if len(passing) == 1 and stands_alone is not None and stands_alone(sides[side]):
            verdicts[side].cautions.append(
                "%s side: measured on its own, as the %s side is not measurable and the two "
                "structures found are not a plausible pair: %s"
                % (side, L.other_side(side), "; ".join(pair_reasons)))
        else:
            verdicts[side].reasons.extend(pair_reasons)


def gate_measured(nv, scan, warnings, volume_decides=True, more_reasons=None, ct=None,
                  pair_reasons=(), stands_alone=None, own_grid_ct=None):
    """Side-level checks on a measured case (:class:`.engine.measure.NegativeVolumeResult`).

    A side that fails loses its values (None), its NV voxels in ``nv.labels`` and its meshes
    (a thickness map or NV segment would show numbers); its condyle centre is kept in the
    quality block so report.png can still show the joint. ``warnings``: the case's warnings
    (the reason for a side the engine or the localiser left null). ``more_reasons``: {side:
    [reasons]} from checks made elsewhere (a side's place, :mod:`.inference.pair_check`);
    ``pair_reasons``: why the two sides do not make a pair: they withhold both when each passes
    its own checks; when one fails its own, the other keeps its numbers with a caution where
    ``stands_alone`` (callable(values) -> bool: :func:`.inference.pair_check.stands_alone`)
    confirms its place, as in a scan of one joint.
    ``ct``: the CT in HU around the joints, if any: metal in or near a joint (:mod:`.metal`);
    ``own_grid_ct``: that CT on its own grid when ``ct`` was resampled onto the labels' (its
    slices and noise are read there: :mod:`.made_slices`, :mod:`.noise`).
    Returns (sides, quality block, cautions); ``nv.labels`` and ``nv.meshes`` are changed in
    place.
    """
    # checked on the labelled part (a view), then each side on the part around its condyle:
    # both reach past every region a check looks at (they end where the image ends or beyond)
    box = labelled_box(nv.labels, CHECK_REACH_MM)
    image, array = nv.labels, sitk.GetArrayViewFromImage(nv.labels)
    if box is not None:
        (x0, y0, z0), (x1, y1, z1) = box
        image = sitk.RegionOfInterest(nv.labels, [int(v) for v in box[1] - box[0]],
                                      [int(v) for v in box[0]])
        array = array[z0:z1, y0:y1, x0:x1]
    sides, verdicts, cautions = dict(nv.sides), {}, list(scan.cautions)
    dropped, metal_in = [], set()
    boxes = label_boxes(array)
    for side in L.SIDES:    # each side on its own
        values = sides.get(side)
        if values is None:
            continue
        part, part_image = part_around(array, image, boxes.get(L.CONDYLE[side]), CHECK_REACH_MM)
        verdict = check_side(part, part_image, side, values, volume_decides)
        verdict.reasons.extend((more_reasons or {}).get(side) or [])
        metal, careful = check_metal(ct, part, part_image, side,
                                     values.get("condyle_center_lps_mm"))
        verdict.reasons[:0] = metal   # the cause of any other failure there
        cut = air_edge_reason(ct, part == L.CONDYLE[side], part_image)
        if cut:
            verdict.reasons.insert(len(metal), cut)
        own = ct if own_grid_ct is None else own_grid_ct
        made, made_careful = check_made_slices(
            own, part_image, part == L.CONDYLE[side],
            (SLICE_MAX_MM, SLICE_CAUTION_MM, SLICE_UNCERTAINTY_PERCENT["ct"]),
            (INPLANE_MAX_MM, INPLANE_CAUTION_MM, INPLANE_UNCERTAINTY_PERCENT))
        grainy, grainy_careful = check_noise(own, values.get("condyle_center_lps_mm"))
        verdict.reasons.extend(made + grainy)
        careful = list(careful) + made_careful + grainy_careful
        if metal:
            metal_in.add(side)
        verdict.cautions.extend("%s side: %s" % (side, c) for c in careful)
        verdicts[side] = verdict
    _judge_pair(verdicts, sides, pair_reasons, stands_alone)
    for side in verdicts:   # the other joint's metal streaks across the whole slice
        if L.other_side(side) in metal_in and side not in metal_in:
            verdicts[side].cautions.append(
                "%s side: metal in the %s joint: its streaks cross this joint's slices (the "
                "real head with a metal left condyle read the right NV 2 %% low)"
                % (side, L.other_side(side)))
    for side, verdict in sorted(verdicts.items()):
        values = sides[side]
        if verdict.measurable:   # a caution is about numbers kept: none for a side withheld
            cautions.extend(verdict.cautions)
            sides[side] = dict(values, measurable=True)
        else:
            sides[side] = None
            nv.meshes[side] = {}
            dropped.append(side)
    if dropped:  # the dropped sides' NV voxels zeroed in place, within the labelled box
        part = sitk.GetArrayFromImage(image)
        for side in dropped:
            part[part == L.NEGATIVE_VOLUME[side]] = 0
        part = sitk.GetImageFromArray(part)
        if box is None:
            part.CopyInformation(nv.labels)
            nv.labels = part
        else:
            (x0, y0, z0), (x1, y1, z1) = [[int(v) for v in b] for b in box]
            nv.labels[x0:x1, y0:y1, z0:z1] = part
    kept = [side for side in L.SIDES if sides.get(side)]
    if not kept:
        cautions = []            # no number kept: the scan's cautions are about none
    elif len(kept) == 1:         # one side's number: nothing to compare it with
        cautions = [c.replace(COMPARE_SIDES, "") for c in cautions]
    block = side_status(sides, warnings, verdicts, scan)
    for side in dropped:
        block[side]["condyle_center_lps_mm"] = nv.sides[side].get("condyle_center_lps_mm")
    return sides, block, cautions
