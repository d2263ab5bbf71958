"""Whole-head pipeline: CT -> both joints' negative volumes, in one straight line.

read -> check -> localise (coarse, whole volume) -> segment (crop per joint, mapped back onto the
CT grid) -> postprocess -> NV engine (geometry) -> report. Every stage is timed (seconds, in
``timings_s``) and announced to an optional ``progress(stage, case)`` callback (the CLI's
progress bar, Slicer's status line). Geometry is physical throughout: points are LPS mm, label
maps lie on the original CT grid.

Bundled models live in the model folder (``NVSEG_MODEL_DIR``, else the repository's ``models/``,
else the Slicer module's ``Resources/Models``): ``tmj_localizer.pt`` and ``tmj_segmentation.pt``,
each checked against its sha256 in ``SHA256SUMS`` (``sha256sum`` format) before loading.
"""

import os
import time

import numpy as np
import SimpleITK as sitk

from . import labels as L
from . import localize, postprocess, report, segment
from .checkpoint import load_checkpoint, verify_sha256
from .ct_io import check_ct_like, check_direction, read_ct
from .device import choose_device, run_with_cpu_fallback
from .errors import InputError, ModelError

MODEL_FILES = {"localizer": "tmj_localizer.pt", "segmentation": "tmj_segmentation.pt"}
CHECKSUMS = "SHA256SUMS"
MIN_HEAD_CM3 = 100.0         # less tissue (> -400 HU) than this: no head in the image
MAX_VERIFIED = 5            # localiser candidates segmented per side, best evidence kept
REFINE_SHIFT_MM = 3.0        # re-crop when the segmented condyle centre moved further than this
TYPICAL_JOINT_DISTANCE_MM = 100.0  # condyle to condyle (adults ~90-110 mm)
MIRROR_SEARCH_MM = 24.0      # a missing joint is searched on a 3 x 3 grid of this step (y, z)
MIN_RESCUE_EVIDENCE = 0.25   # a joint found by the search needs this x the other's evidence
# ... and a condyle (segmented in its box) within this factor of the other side's: condyles are
# near mirror images (normal left/right volume difference 2-4 %), other bone in a misplaced box
# is not (1.9-2.8 x on phantom seed 100034, where it out-scored the joint on evidence alone)
MAX_RESCUE_CONDYLE_RATIO = 1.5
# An adult condyle with the ~16 mm of neck inside the segmentation box holds ~1000-2500 mm3
# (phantoms 855-1604, the real head CT ~2300); a "condyle" of more than this is the ramus or
# other bone caught by a misplaced crop (seen when searching for a missed joint).
MAX_CONDYLE_IN_CROP_MM3 = 4000.0
STAGES = ("read", "localise", "segment", "postprocess", "geometry")


def model_dir_candidates():
    """Folders searched for bundled models, in order."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    if os.environ.get("NVSEG_MODEL_DIR"):
        found.append(os.environ["NVSEG_MODEL_DIR"])
    found.append(os.path.normpath(os.path.join(here, "..", "..", "models")))
    found.append(os.path.normpath(os.path.join(here, "..", "Resources", "Models")))
    return found


def default_model_dir():
    """The first candidate folder holding the segmentation model (else the first candidate)."""
    candidates = model_dir_candidates()
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, MODEL_FILES["segmentation"])):
            return folder
    return candidates[0]


def read_checksums(folder):
    """{file name: sha256} from ``folder/SHA256SUMS``; ModelError when it is missing."""
    path = os.path.join(folder, CHECKSUMS)
    if not os.path.isfile(path):
        raise ModelError("model checksum file not found: %s (needed to verify the bundled models)"
                         % path)
    sums = {}
    with open(path) as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


class Models(object):
    """Loaded networks and their metadata: ``segmentation`` and ``localizer`` as (net, meta),
    ``files`` {kind: path}."""

    def __init__(self, segmentation, localizer, files):
        self.segmentation = segmentation
        self.localizer = localizer
        self.files = files

    def to(self, device):
        for net, _meta in (self.segmentation, self.localizer):
            net.to(device)
        return self


def load_models(model_dir=None, device="cpu"):
    """Both bundled models from ``model_dir`` after their sha256 check (ModelError naming the
    missing or corrupt file otherwise)."""
    folder = model_dir or default_model_dir()
    paths = dict((kind, os.path.join(folder, name)) for kind, name in MODEL_FILES.items())
    for kind in ("segmentation", "localizer"):
        if not os.path.isfile(paths[kind]):
            raise ModelError("bundled %s model not found: %s (train it with nvseg train or set "
                             "NVSEG_MODEL_DIR)" % (kind, paths[kind]))
    sums = read_checksums(folder)
    loaded = {}
    for kind, path in paths.items():
        name = os.path.basename(path)
        if name not in sums:
            raise ModelError("%s has no sha256 entry in %s" % (path, os.path.join(folder, CHECKSUMS)))
        verify_sha256(path, sums[name])
        loaded[kind] = load_checkpoint(path, device=device)
    return Models(loaded["segmentation"], loaded["localizer"], paths)


class CaseResult(object):
    """Everything one case produced: ``report`` (report.json dict), ``ct`` (SimpleITK HU),
    ``labels`` (SimpleITK uint8 1-6 on the CT grid), ``nv`` (NegativeVolumeResult),
    ``joints`` {side: JointSegmentation or None}, ``localization``."""

    def __init__(self, report_dict, ct, labels, nv, joints, localization):
        self.report = report_dict
        self.ct = ct
        self.labels = labels
        self.nv = nv
        self.joints = joints
        self.localization = localization


def check_image(image, name="CT"):
    """A 3D scalar in-memory image as float32 (InputError otherwise; NaNs refused)."""
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("%s: a 3D scalar CT volume is needed (got %dD, %d components)"
                         % (name, image.GetDimension(), image.GetNumberOfComponentsPerPixel()))
    check_direction(image, name)
    if image.GetPixelID() != sitk.sitkFloat32:
        image = sitk.Cast(image, sitk.sitkFloat32)
    if not np.isfinite(sitk.GetArrayViewFromImage(image)).all():
        raise InputError("%s: contains NaN or infinite voxel values" % name)
    return image


def check_head(ct, name="CT"):
    """InputError when the image holds less than MIN_HEAD_CM3 of tissue above -400 HU (an empty
    scan, a phantom of air, a volume cut far from the head). Counted on every 2nd voxel per axis."""
    array = sitk.GetArrayViewFromImage(ct)[::2, ::2, ::2]
    tissue_cm3 = np.count_nonzero(array > localize.HEAD_HU) * 8.0 * np.prod(ct.GetSpacing()) / 1e3
    if tissue_cm3 < MIN_HEAD_CM3:
        raise InputError("%s: no head in the image (only %.0f cm3 of tissue above %.0f HU; at least "
                         "%.0f cm3 expected)" % (name, tissue_cm3, localize.HEAD_HU, MIN_HEAD_CM3))


def _condyle_centre(joint, ct):
    """LPS centroid of the voxels where MC is the most probable class, or None."""
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    kji = np.nonzero((mc > 0.5) & (mc >= tb))
    if len(kji[0]) == 0:
        return None
    i0 = joint.box[0]
    index = np.array([kji[2].mean(), kji[1].mean(), kji[0].mean()]) + i0
    return np.asarray(ct.TransformContinuousIndexToPhysicalPoint([float(v) for v in index]))


def _condyle_in_box(joint):
    """Voxels where the condyle is the most probable class (boolean, the joint's box)."""
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    return (mc > 0.5) & (mc >= tb)


def condyle_in_box_mm3(joint, ct):
    """Volume (mm³) of the segmented condyle in the joint's box, before any cleaning."""
    return float(_condyle_in_box(joint).sum()) * float(np.prod(ct.GetSpacing()))


def joint_evidence(joint, ct):
    """How much a segmented crop looks like a TMJ: a confident condyle under temporal bone.

    Mean condyle probability over the voxels where the condyle wins, times the temporal-bone
    volume (mm³) segmented in the crop (on the CT grid ``ct``). Bone that the coarse localiser
    may take for a joint (the coronoid process, the styloid, the zygomatic root) gives a weaker
    condyle and little or no fossa around it; a crop whose "condyle" exceeds
    MAX_CONDYLE_IN_CROP_MM3 caught the ramus or other bone and scores 0.
    """
    mc, tb = joint.probabilities["condyle"], joint.probabilities["temporal_bone"]
    condyle = _condyle_in_box(joint)
    voxel_mm3 = float(np.prod(ct.GetSpacing()))
    if not condyle.any() or condyle.sum() * voxel_mm3 > MAX_CONDYLE_IN_CROP_MM3:
        return 0.0
    fossa = (tb > 0.5) & (tb > mc)
    return float(mc[condyle].mean()) * float(fossa.sum()) * voxel_mm3


def side_alternatives(side, joints_lps, candidates):
    """Localiser candidates that may be the ``side`` joint, best score first, the chosen one
    first; at most MAX_VERIFIED per side, none closer than 5 mm to one already listed."""
    chosen = np.asarray(joints_lps[side], float)
    other = joints_lps.get(L.other_side(side))
    if other is not None:
        # a joint lies on the chosen one's side, at least 0.4 x the smallest joint distance
        # lateral of the pair's midpoint (nothing near the midline: dens, clivus, vomer)
        mid = 0.5 * (chosen[0] + other[0])
        lateral = 0.4 * localize.MIN_JOINT_DISTANCE_MM
        same_side = lambda p: (p[0] - mid) * np.sign(chosen[0] - mid) >= lateral
    else:
        same_side = lambda p: np.linalg.norm(p - chosen) <= 40.0
    points = [chosen]
    for c in sorted(candidates, key=lambda c: -c.score):
        if len(points) >= MAX_VERIFIED:
            break
        if same_side(c.point) and min(np.linalg.norm(c.point - q) for q in points) > 5.0:
            points.append(np.asarray(c.point, float))
    return points


def mirror_point(point, other_side, midline_x):
    """Where the ``other_side`` joint is expected from a joint at ``point`` (LPS mm): its mirror
    image across the head's midsagittal plane x = ``midline_x``, or, when the midline is not in
    the field of view, TYPICAL_JOINT_DISTANCE_MM along the patient's left-right axis (larger LPS
    x = left)."""
    p = np.asarray(point, float).copy()
    if midline_x is not None:
        p[0] = 2.0 * midline_x - p[0]
    else:
        p[0] += TYPICAL_JOINT_DISTANCE_MM * (1.0 if other_side == L.LEFT else -1.0)
    return p


def search_points(centre, step=MIRROR_SEARCH_MM):
    """``centre`` and its 8 neighbours on a y-z grid of ``step`` mm: a head turned or tilted by
    up to ~25 degrees moves the other joint that far from the mirror image (LPS mm)."""
    offsets = [(0.0, 0.0)] + [(dy, dz) for dy in (-step, 0.0, step) for dz in (-step, 0.0, step)
                              if (dy, dz) != (0.0, 0.0)]
    return [np.asarray(centre, float) + np.array([0.0, dy, dz]) for dy, dz in offsets]


class _Best(object):
    """The best-scoring segmentation of one side so far."""

    def __init__(self):
        self.joint, self.centre, self.evidence = None, None, -1.0

    def offer(self, joint, centre, ct):
        if joint is None:
            return
        evidence = joint_evidence(joint, ct)
        if evidence > self.evidence:  # a localiser's joint is kept even with no evidence
            self.joint, self.centre, self.evidence = joint, np.asarray(centre, float), evidence


def segment_joints(ct, located, models, choice, warnings):
    """{side: JointSegmentation or None}.

    Each localiser candidate of a side is segmented and the one that looks most like a joint
    (:func:`joint_evidence`) is kept. Then, when the head's midline is in the field of view, each
    side is also segmented at the mirror image of the other side's condyle (:func:`mirror_point`),
    which corrects a localiser that fired on other bone (the coronoid process lies ~25 mm
    anterior of the condyle); that box must hold a condyle of about the other side's size. A side the localiser missed
    is searched around that mirror image (:func:`search_points`): a box counts only when its
    condyle is within MAX_RESCUE_CONDYLE_RATIO of the other side's in size, and the best is
    accepted only when its evidence reaches MIN_RESCUE_EVIDENCE x the other side's, so a scan
    holding one joint keeps the other side None. The winner is re-cropped once on its segmented condyle centre when that
    lies more than REFINE_SHIFT_MM away.
    """
    net, meta = models.segmentation

    def segment_at(centre, side):
        return segment.segment_joint(ct, centre, side, net, meta, choice.device, choice.half)

    best = {}
    for side in L.SIDES:
        best[side] = _Best()
        if located.joints.get(side) is not None:
            for centre in side_alternatives(side, located.joints, located.candidates):
                best[side].offer(segment_at(centre, side), centre, ct)
    found = dict((side, best[side].joint is not None) for side in L.SIDES)
    for side in L.SIDES:
        other = L.other_side(side)
        if not found[other]:
            continue
        anchor = _condyle_centre(best[other].joint, ct)
        if anchor is None:
            anchor = best[other].centre
        expected = mirror_point(anchor, side, located.midline_x)
        size = condyle_in_box_mm3(best[other].joint, ct)

        def alike(joint):  # a condyle of about the other side's size
            return joint is not None and size > 0 and (
                1.0 / MAX_RESCUE_CONDYLE_RATIO <= condyle_in_box_mm3(joint, ct) / size
                <= MAX_RESCUE_CONDYLE_RATIO)

        if found[side]:
            if located.midline_x is not None:  # a true mirror image only
                joint = segment_at(expected, side)
                if alike(joint):
                    best[side].offer(joint, expected, ct)
            continue
        rescue = _Best()
        for centre in search_points(expected):
            joint = segment_at(centre, side)
            if alike(joint):
                rescue.offer(joint, centre, ct)
        if rescue.joint is not None and rescue.evidence > 0 and (
                rescue.evidence >= MIN_RESCUE_EVIDENCE * best[other].evidence):
            best[side] = rescue
            warnings[:] = [w for w in warnings if not w.startswith("only one joint found")]
            warnings.append("%s joint: missed by the localiser, found by searching around the "
                            "mirror image of the %s joint" % (side, other))
    out = {}
    for side in L.SIDES:
        joint = best[side].joint
        if joint is not None:
            moved = _condyle_centre(joint, ct)
            if moved is not None and np.linalg.norm(moved - best[side].centre) > REFINE_SHIFT_MM:
                joint = segment_at(moved, side)
            if joint is None:
                warnings.append("%s joint: its crop lies outside the image" % side)
        elif located.joints.get(side) is not None:
            warnings.append("%s joint: its crop lies outside the image" % side)
        out[side] = joint
    return out


def run_case(path, models, device="auto", max_distance=10.0, enhance_tb=False, progress=None,
             case=None):
    """Run the whole pipeline on one CT; returns a :class:`CaseResult`.

    Args:
        path: CT file or DICOM folder, or a SimpleITK image in HU already in memory (e.g. from
            Slicer; it gets the same CT-likeness checks). models: :class:`Models`.
        device: "auto" | "cpu" | "cuda" or a :class:`.device.DeviceChoice`.
        max_distance: longest inflation ray (mm). enhance_tb: the paper's TB enhancement.
        progress: callable(stage, case) called as each stage starts.
    Raises InputError for bad input, ModelError for model problems.
    """
    from .negative_volume import measure_negative_volume

    timings, warnings = {}, []
    start = time.perf_counter()
    announce = progress or (lambda stage, case: None)
    choice = device if hasattr(device, "device") else choose_device(device)

    announce("read", case)
    t0 = time.perf_counter()
    if isinstance(path, sitk.Image):
        ct = check_image(path)
        warnings.extend(check_ct_like(ct))
        source = "in-memory image"
    else:
        ct, read_warnings = read_ct(path)
        warnings.extend(read_warnings)
        source = os.path.abspath(path)
    check_head(ct, "in-memory image" if isinstance(path, sitk.Image) else str(path))
    timings["read"] = time.perf_counter() - t0

    announce("localise", case)
    t0 = time.perf_counter()

    def localise_on(c):
        models.to(c.device)
        net, meta = models.localizer
        return localize.localize_joints(ct, net, meta, c.device, c.half)

    located, choice = run_with_cpu_fallback(localise_on, choice, warnings, "localisation")
    warnings.extend(located.warnings)
    timings["localise"] = time.perf_counter() - t0

    announce("segment", case)
    t0 = time.perf_counter()

    def segment_on(c):
        models.to(c.device)
        return segment_joints(ct, located, models, c, warnings)

    joints, choice = run_with_cpu_fallback(segment_on, choice, warnings, "segmentation")
    timings["segment"] = time.perf_counter() - t0

    announce("postprocess", case)
    t0 = time.perf_counter()
    label_image = segment.label_map(ct, joints)
    array = sitk.GetArrayFromImage(label_image)
    for joint in joints.values():
        if joint is not None:
            postprocess.clean_joint(array, joint, ct, enhance_tb)
    cleaned = sitk.GetImageFromArray(array)
    cleaned.CopyInformation(ct)
    timings["postprocess"] = time.perf_counter() - t0

    announce("geometry", case)
    t0 = time.perf_counter()
    nv = measure_negative_volume(cleaned, max_distance=max_distance)
    warnings.extend(nv.warnings)
    timings["geometry"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start

    extra = {"inputs": {"ct": source},
             "models": dict((k, os.path.basename(v)) for k, v in models.files.items()),
             "localisation": {"condyle_centres_lps_mm": located.joints,
                              "candidates": len(located.candidates)},
             "device_description": choice.description,
             "parameters": {"max_distance_mm": float(max_distance), "mode": "confined",
                            "enhance_temporal_bone": bool(enhance_tb)}}
    rep = report.build_report(nv.sides, warnings, timings, device=choice.name, extra=extra)
    return CaseResult(rep, ct, nv.labels, nv, joints, located)
