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

from .errors import InputError
from .inference import localize, postprocess, segment
from .inference.device import choose_device, run_with_cpu_fallback
from .inference.joint_search import segment_joints
from .inference.models import Models, load_models  # noqa: F401 (re-exported: the public API)
from .io.ct import check_ct_like, check_direction, read_ct
from .report import report_json as report

MIN_HEAD_CM3 = 100.0         # less tissue (> -400 HU) than this: no head in the image
STAGES = ("read", "localise", "segment", "postprocess", "geometry")


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
    from .engine.measure import measure_negative_volume

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
