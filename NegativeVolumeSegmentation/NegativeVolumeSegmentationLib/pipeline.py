"""One route from CT to report: the function the command line, the Slicer Logic (in process and
in its background process) and scripts all call.

read -> check -> localise (coarse, whole volume) -> joint search and segmentation (crop per
joint, mapped back onto the CT grid) -> post-process -> NV engine (geometry) -> report.
:func:`compute` is that line for any source: a CT (``segment=True``: :func:`run_case`) or a label
map of condyle / temporal-bone segments (``segment=False``: :func:`measure_labels`). Every stage
is timed (seconds, ``timings_s``) and announced to an optional ``progress(stage, case)``
callback. Geometry is physical throughout: points are LPS mm, label maps lie on the source grid.
Inference (and so torch) is imported only when a CT is segmented: measuring given segments works
in a Slicer without PyTorch.
"""

import os
import time

import numpy as np
import SimpleITK as sitk

from . import labels as L
from . import quality
from .case_result import CaseResult
from .errors import InputError
from .engine.labelled_region import labelled_box, paste, working_margin_mm
from .io.ct import as_ct_pixels, check_ct_like, check_direction, read_ct, series_record
from .options import RunOptions
from .report.report_json import build_report

MIN_HEAD_CM3 = 100.0         # less tissue (> -400 HU) than this: no head in the image
# Scans larger than this (voxels) get their label map on the joints' part of the grid only: a
# full-size uint8 copy would break the memory budget (peak <= the CT + 1.5 GB; benchmarks/
# bench_memory.py). 2**29 = 537 M voxels, e.g. 0.32 mm isotropic over a whole head; clinical CTs
# (512 x 512 x <= 1000) stay far below it.
FULL_GRID_LABELS_MAX_VOXELS = 2 ** 29
STAGES = ("read", "localise", "segment", "postprocess", "geometry")
MEASURE_STAGES = ("read", "geometry")


def check_image(image, name="CT"):
    """A 3D scalar in-memory CT, 8/16-bit integer or float32 (:func:`.io.ct.as_ct_pixels`;
    InputError otherwise; NaNs refused)."""
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("%s: a 3D scalar CT volume is needed (got %dD, %d components)"
                         % (name, image.GetDimension(), image.GetNumberOfComponentsPerPixel()))
    check_direction(image, name)
    image = as_ct_pixels(image)
    if (image.GetPixelID() == sitk.sitkFloat32
            and not np.isfinite(sitk.GetArrayViewFromImage(image)).all()):
        raise InputError("%s: contains NaN or infinite voxel values" % name)
    return image


def check_head(ct, name="CT"):
    """InputError when the image holds less than MIN_HEAD_CM3 of tissue above -400 HU (an empty
    scan, a phantom of air, a volume cut far from the head). Counted on every 2nd voxel per axis."""
    from .inference import localize

    array = sitk.GetArrayViewFromImage(ct)[::2, ::2, ::2]
    count = sum(np.count_nonzero(plane > localize.HEAD_HU) for plane in array)  # slab by slab:
    tissue_cm3 = count * 8.0 * np.prod(ct.GetSpacing()) / 1e3               # no N/8 temporary
    if tissue_cm3 < MIN_HEAD_CM3:
        raise InputError("%s: no head in the image (only %.0f cm3 of tissue above %.0f HU; at least "
                         "%.0f cm3 expected)" % (name, tissue_cm3, localize.HEAD_HU, MIN_HEAD_CM3))


def _measure(label_image, options, warnings, timings, announce, case, ct=None, fine_masks=None):
    from .engine.measure import measure_negative_volume

    announce("geometry", case)
    t0 = time.perf_counter()
    nv = measure_negative_volume(label_image, max_distance=options.max_distance_mm,
                                 mode=options.mode, cube_mm=options.cube_mm, ct=ct,
                                 fine_masks=fine_masks)
    warnings.extend(nv.warnings)
    timings["geometry"] = time.perf_counter() - t0
    return nv


def _part(ct, array, box):
    """(uint8 label image, CT) of index ``box`` (x, y, z) of ``ct`` and its label ``array``
    (z, y, x); the whole of both when ``box`` is None."""
    if box is None:
        labels = sitk.GetImageFromArray(array)
        labels.CopyInformation(ct)
        return labels, ct
    (x0, y0, z0), (x1, y1, z1) = [[int(v) for v in b] for b in box]
    labels = sitk.GetImageFromArray(np.ascontiguousarray(array[z0:z1, y0:y1, x0:x1]))
    part = sitk.RegionOfInterest(ct, [x1 - x0, y1 - y0, z1 - z0], [x0, y0, z0])
    labels.CopyInformation(part)
    return labels, part


def joints_region(ct, joints, margin_mm):
    """Index box (x, y, z) [i0, i1) of the CT holding every joint's box grown by ``margin_mm``
    and one voxel (what :func:`.engine.labelled_region.labelled_box` can reach from labels
    inside the joint boxes), clamped to the CT; None when no joint was segmented."""
    boxes = [joint.box for joint in joints.values() if joint is not None]
    if not boxes:
        return None
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    grow = (np.ceil(margin_mm / np.asarray(ct.GetSpacing(), float)) + 1).astype(int)
    return np.maximum(lo - grow, 0), np.minimum(hi + grow, np.asarray(ct.GetSize()))


def _on_region(ct, joints, region):
    """(CT of ``region``, joints with their boxes in that region's index); unchanged when
    ``region`` is None."""
    from .inference.segment import JointSegmentation

    if region is None:
        return ct, joints
    lo, hi = region
    part = sitk.RegionOfInterest(ct, [int(v) for v in hi - lo], [int(v) for v in lo])
    local = dict((side, None if j is None else JointSegmentation(
        j.side, j.centre_lps, (j.box[0] - lo, j.box[1] - lo), j.probabilities, j.crop))
        for side, j in joints.items())
    return part, local


def _segmented(joints):
    """The sides of {side: JointSegmentation or None} that were segmented."""
    return [side for side, joint in joints.items() if joint is not None]


def _name_missing_condyles(warnings, joints):
    """The engine says of a side without a condyle that the label map holds none; here the
    labels are the network's: a side the localiser did not find is not in the field of view
    or was not found (report.json's reason for it), one it found but the network left without
    a condyle says so."""
    from .engine.measure import NO_CONDYLE

    out = []
    for line in warnings:
        side = next((s for s in L.SIDES if line.startswith(NO_CONDYLE.split("%d")[0] % s)), None)
        if side is None:
            out.append(line)
        elif joints.get(side) is None:
            out.append("%s side: not in the field of view, or not found by the localiser" % side)
        else:
            out.append("%s side: no condyle segmented at the joint found" % side)
    warnings[:] = out


def _in_ct(box, region):
    """``box`` (index in ``region``) as an index box of the whole CT."""
    if region is None:
        return box
    if box is None:
        return region
    return box[0] + region[0], box[1] + region[0]


def _labels_for_output(ct, labels, box, warnings):
    """The label map written and shown: the one measured when the engine measured on its own
    fine grid (a CT coarser than 0.3 mm: the joints' part at 0.3 mm, engine/measurement_grid.py);
    else on the CT's grid (the part pasted into zeros), or, for a scan of more than
    FULL_GRID_LABELS_MAX_VOXELS voxels, the labelled part itself (same spacing and direction,
    its own origin; a warning says so): a full-size copy would cost one byte per voxel of the
    scan."""
    if not np.allclose(labels.GetSpacing(), ct.GetSpacing()):
        return labels
    voxels = float(ct.GetNumberOfPixels())
    if box is None or voxels <= FULL_GRID_LABELS_MAX_VOXELS:
        return paste(ct, labels, box)
    warnings.append("large scan (%.0f M voxels): the label map covers only the joints' part of "
                    "the CT grid" % (voxels / 1e6))
    return labels


def _quiet(stage, case):
    return None


def _release_freed_memory():
    """Hand memory the process has freed (network activations, the engine's arrays) back to
    the system before the next full-size allocation: glibc keeps freed heap for reuse, which
    counted ~0.2 GB of a 0.3 mm head's peak (benchmarks/bench_memory.py). Elsewhere a no-op."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc (macOS, Windows, musl): nothing to do


def run_case(source, models, options=None, device=None, progress=None, case=None):
    """The whole pipeline on one CT; returns a :class:`CaseResult`.

    Args:
        source: CT file or DICOM folder, or a SimpleITK image in HU already in memory (e.g. from
            Slicer; it gets the same CT-likeness checks).
        models: loaded bundled models (:func:`.inference.models.load_models`).
        options: :class:`.options.RunOptions` (or a dict of its values); the NV is measured once,
            in ``options.mode``.
        device: overrides ``options.device``: "auto" | "cpu" | "cuda" or a
            :class:`.inference.device.DeviceChoice` already made.
        progress: callable(stage, case) called as each stage of :data:`STAGES` starts.
    Raises InputError for bad input, ModelError for model problems.
    """
    from .inference import fine_masks, localize, postprocess, segment
    from .inference.device import choose_device, run_with_cpu_fallback
    from .inference.joint_search import segment_joints
    from .inference.pair_check import pair_reasons

    options = RunOptions.from_values(options)
    timings, warnings = {}, []
    start = time.perf_counter()
    announce = progress or _quiet
    choice = device if device is not None else options.device
    choice = choice if hasattr(choice, "device") else choose_device(choice)

    announce("read", case)
    t0 = time.perf_counter()
    if isinstance(source, sitk.Image):
        ct = check_image(source)
        warnings.extend(check_ct_like(ct))
        name = "in-memory image"
    else:
        ct, read_warnings = read_ct(source)
        warnings.extend(read_warnings)
        name = os.path.abspath(source)
    check_head(ct, "in-memory image" if isinstance(source, sitk.Image) else str(source))
    inputs = {"ct": name, "dicom_series": series_record(ct)}   # None unless a DICOM folder
    scan = quality.check_scan(ct, mode=options.mode)  # unmeasurable: no networks run
    timings["read"] = time.perf_counter() - t0
    if not scan.measurable:
        timings["total"] = time.perf_counter() - start
        report = build_report({}, warnings, timings, device=choice.name,
                              extra={"inputs": inputs,
                                     "parameters": options.report_parameters()},
                              quality=quality.side_status({}, warnings, scan=scan),
                              cautions=scan.cautions)
        return CaseResult(report, quality.unmeasured_labels(ct), {}, ct=ct)

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
    _release_freed_memory()
    # labels are made, cleaned and measured on the joints' region of the CT grid only (the
    # joint boxes plus the rays' reach): no full-size copy of the scan (a 0.2 mm CBCT must fit)
    margin = working_margin_mm(options.max_distance_mm, options.mode, options.cube_mm)
    region = joints_region(ct, joints, margin)
    ct_region, local = _on_region(ct, joints, region)
    array = segment.label_array(ct_region, local)   # uint8, cleaned in place
    # each joint's probabilities (2 float32 CT-grid boxes: 0.3 GB at 0.2 mm) are released as
    # soon as nothing reads them: after the labels, or after its cleaning with enhance_tb
    for side in _segmented(local):
        if not options.enhance_tb:
            local[side].probabilities = joints[side].probabilities = None
    _release_freed_memory()
    for side in _segmented(local):
        postprocess.clean_joint(array, local[side], ct_region, options.enhance_tb)
        local[side].probabilities = joints[side].probabilities = None
    box = labelled_box(ct_region, margin, array=array)
    cleaned, ct_part = _part(ct_region, array, box)
    del array, ct_region, local
    _release_freed_memory()
    timings["postprocess"] = time.perf_counter() - t0

    # a CT coarser than 0.3 mm is measured on the engine's 0.3 mm grid, its bones from the
    # network's probabilities (inference/fine_masks.py): the same whatever the CT's grid
    nv = _measure(cleaned, options, warnings, timings, announce, case, ct_part,
                  fine_masks.fine_mask_source(joints, options.enhance_tb))
    _name_missing_condyles(warnings, joints)
    del cleaned
    pair = pair_reasons(nv.sides, located.midline_x)
    # the gate sees the labelled part, which reaches the rays' reach + 3 mm (>= 13 mm) past the
    # labels or ends at the CT's own edge: past what any check reads (the field-of-view check
    # looks 5 mm beyond the condylar head, the metal check the CT's part, the others labels
    # only), so its verdicts are those on the whole grid; then the label image for output
    sides, gate, cautions = quality.gate_measured(nv, scan, warnings, more_reasons=pair,
                                                  ct=ct_part)
    del ct_part
    _release_freed_memory()
    nv.labels = _labels_for_output(ct, nv.labels, _in_ct(box, region), warnings)
    timings["total"] = time.perf_counter() - start

    extra = dict(models.provenance(), inputs=inputs,
                 localisation={"condyle_centres_lps_mm": located.joints,
                               "candidates": len(located.candidates)},
                 device_description=choice.description, parameters=options.report_parameters())
    report = build_report(sides, warnings, timings, device=choice.name, extra=extra,
                          quality=gate, cautions=cautions)
    return CaseResult(report, nv.labels, nv.meshes, ct=ct, joints=joints, localization=located)


def _grid_of(image):
    """A one-voxel image with ``image``'s spacing, axes, origin and metadata (slice thickness):
    what :func:`.quality.check_grid` reads, without holding the voxels."""
    grid = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    grid.SetSpacing(image.GetSpacing())
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(image.GetOrigin())
    for key in image.GetMetaDataKeys():
        grid.SetMetaData(key, image.GetMetaData(key))
    return grid


def measure_labels(source, options=None, progress=None, case=None, ct=None):
    """The NV engine alone on a label map of condyle (1/2) and temporal bone (3/4).

    Args:
        source: label-map file (NIfTI, NRRD, MHA, Slicer .seg.nrrd) or a SimpleITK label image.
        options: :class:`.options.RunOptions` (mode, max distance, cube).
        ct: the CT the labels belong to (file or SimpleITK image): on their grid, or resampled
            onto it when they lie on another grid inside it (:func:`.io.ct.ct_on_label_grid`;
            the quality gate then checks the CT's own grid too); kept in the result (for
            report.png).
    Returns a :class:`CaseResult`.
    """
    from .io.ct import ct_on_label_grid
    from .io.label_map_sides import check_pairing
    from .io.segmentation_files import read_label_map

    options = RunOptions.from_values(options)
    timings, warnings = {}, []
    start = time.perf_counter()
    announce = progress or _quiet
    announce("read", case)
    t0 = time.perf_counter()
    inputs = {}
    if isinstance(source, sitk.Image):
        labels = source
    else:
        labels = read_label_map(source, warnings)   # what reading it found, in the report
        inputs["labels"] = os.path.abspath(source)
    check_pairing(labels, "the label map" if isinstance(source, sitk.Image) else str(source))
    if ct is not None and not isinstance(ct, sitk.Image):
        inputs["ct"], (ct, ct_warnings) = os.path.abspath(ct), read_ct(ct)
        warnings.extend(ct_warnings)
    if ct is not None:
        inputs["dicom_series"] = series_record(ct)   # None unless read from DICOM
    acquired = ct_detail = None
    if ct is not None:
        acquired, ct_detail = _grid_of(ct), quality.ct_slice_detail(ct)
        ct, resampled = ct_on_label_grid(labels, ct)
        if not resampled:
            acquired = None
        else:
            warnings.append("the CT was resampled onto the label map's grid (%s mm) for the air "
                            "rule and the figure" % " x ".join("%.3g" % v for v in
                                                               labels.GetSpacing()))
    scan = quality.check_scan(labels, intensities=False,   # the grid the labels were drawn on
                              mode=options.mode, acquired=acquired, ct_detail=ct_detail)
    timings["read"] = time.perf_counter() - t0
    extra = {"parameters": options.report_parameters(), "inputs": inputs}
    if not scan.measurable:
        timings["total"] = time.perf_counter() - start
        report = build_report({}, warnings, timings, device="cpu", extra=extra,
                              quality=quality.side_status({}, warnings, scan=scan),
                              cautions=scan.cautions)
        return CaseResult(report, quality.unmeasured_labels(labels, labels), {}, ct=ct)
    nv = _measure(labels, options, warnings, timings, announce, case, ct)
    # a user's label map may define the condyle's extent otherwise: its volume only cautions
    sides, gate, cautions = quality.gate_measured(nv, scan, warnings, volume_decides=False, ct=ct)
    timings.update(nv.timings_s)
    timings["total"] = time.perf_counter() - start
    report = build_report(sides, warnings, timings, device="cpu", extra=extra, quality=gate,
                          cautions=cautions)
    return CaseResult(report, nv.labels, nv.meshes, ct=ct)


def compute(source, options=None, models=None, progress=None, case=None, device=None, ct=None):
    """:func:`run_case` (``options.segment``, the default) or :func:`measure_labels` (with the
    ``ct`` the labels belong to, when known)."""
    options = RunOptions.from_values(options)
    if options.segment:
        if models is None:
            from .inference.device import choose_device
            from .inference.models import load_models

            choice = choose_device(device if device is not None else options.device)
            models, device = load_models(device=choice.device), choice
        return run_case(source, models, options, device, progress, case)
    return measure_labels(source, options, progress, case, ct=ct)
