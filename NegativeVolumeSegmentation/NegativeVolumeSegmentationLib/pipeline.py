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
from .hounsfield import padding_as_air
from .engine.labelled_region import labelled_box, working_margin_mm
from .io.ct import (as_ct_pixels, check_ct_like, check_direction, orthonormal, read_ct,
                     series_record)
from .options import RunOptions
from .quality.facing import facing_reason
from .report.report_json import build_report

MIN_HEAD_CM3 = 100.0         # less tissue (> -400 HU) than this: no head in the image
STAGES = ("read", "localise", "segment", "postprocess", "geometry")
MEASURE_STAGES = ("read", "geometry")


def check_image(image, name="CT"):
    """A 3D scalar in-memory CT, 8/16-bit integer or float32 (:func:`.io.ct.as_ct_pixels`;
    InputError otherwise; NaNs refused)."""
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("%s: a 3D scalar CT volume is needed (got %dD, %d components)"
                         % (name, image.GetDimension(), image.GetNumberOfComponentsPerPixel()))
    check_direction(image, name)
    image = as_ct_pixels(orthonormal(image))
    if (image.GetPixelID() == sitk.sitkFloat32
            and not np.isfinite(sitk.GetArrayViewFromImage(image)).all()):
        raise InputError("%s: contains NaN or infinite voxel values" % name)
    return image


def check_head(ct, name="CT"):
    """InputError when the image holds less than MIN_HEAD_CM3 of tissue above -400 HU (an empty
    scan, a phantom of air, a volume cut far from the head), or whose voxel sizes are not in mm
    (:func:`.quality.units_reason`). Tissue is counted on every 2nd voxel per axis."""
    from .inference import localize

    units = quality.units_reason(ct)   # a header in metres: a head 0.3 mm across
    if units:
        raise InputError("%s: %s" % (name, units))
    array = sitk.GetArrayViewFromImage(ct)[::2, ::2, ::2]
    count = sum(np.count_nonzero(plane > localize.HEAD_HU) for plane in array)  # slab by slab:
    tissue_cm3 = count * 8.0 * np.prod(ct.GetSpacing()) / 1e3               # no N/8 temporary
    if tissue_cm3 < MIN_HEAD_CM3:
        raise InputError("%s: no head in the image (only %.0f cm3 of tissue above %.0f HU; at least "
                         "%.0f cm3 expected)" % (name, tissue_cm3, localize.HEAD_HU, MIN_HEAD_CM3))


def _measure(label_image, options, warnings, timings, announce, case, ct=None, fine_masks=None,
             reflection=None, grid_corner=None):
    from .engine.measure import measure_negative_volume

    announce("geometry", case)
    t0 = time.perf_counter()
    nv = measure_negative_volume(label_image, max_distance=options.max_distance_mm,
                                 mode=options.mode, cube_mm=options.cube_mm, ct=ct,
                                 fine_masks=fine_masks,
                                 head_lateral=None if reflection is None else reflection.normal,
                                 grid_corner=grid_corner)
    warnings.extend(nv.warnings)
    timings["geometry"] = time.perf_counter() - t0
    return nv


def _segmented(joints):
    """The sides of {side: JointSegmentation or None} that were segmented."""
    return [side for side, joint in joints.items() if joint is not None]


def _name_missing_condyles(warnings, joints):
    """The engine says of a side without a condyle that the label map holds none; here the
    labels are the network's: a side the localiser did not find is not in the field of view
    or was not found (report.json's reason for it), one it found but the network left without
    a condyle says so."""
    from .engine.measure import NO_CONDYLE

    said = dict((NO_CONDYLE % (side, L.CONDYLE[side]), side) for side in L.SIDES)
    out = []
    for line in warnings:
        side = said.get(line)    # the engine's line, exactly
        if side is None:
            out.append(line)
        elif joints.get(side) is None:
            out.append("%s side: not in the field of view, or not found by the localiser" % side)
        else:
            out.append("%s side: no condyle segmented at the joint found" % side)
    warnings[:] = out


def _unmeasured_labels(reference, labels=None):
    """The label map a not-measurable scan returns: ``labels`` without NV values (5/6), or an
    empty uint8 map on ``reference``'s grid."""
    if labels is None:
        empty = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
        empty.CopyInformation(reference)
        return empty
    array = sitk.GetArrayFromImage(labels)
    array = np.where((array >= 1) & (array <= 4), array, 0).astype(np.uint8)
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(labels)
    return out


def _refused(verdict, ct, labels, warnings, timings, start, device, extra):
    """The :class:`CaseResult` of a case that is not measurable as a whole (``verdict``: the
    scan's, or the case's after measuring): no numbers, no NV voxels, no meshes; a given label
    map keeps its condyle / temporal-bone labels, a segmented CT returns none."""
    timings["total"] = time.perf_counter() - start
    report = build_report({}, warnings, timings, device=device, extra=extra,
                          quality=quality.side_status({}, warnings, scan=verdict),
                          cautions=verdict.cautions)
    return CaseResult(report, _unmeasured_labels(ct if labels is None else labels, labels), {},
                      ct=ct)


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
    from .inference import fine_masks, joints_part, localize, postprocess, segment, symmetry
    from .inference.device import choose_device, run_with_cpu_fallback
    from .inference.joint_search import segment_joints
    from .inference.pair_check import pair_reasons, stands_alone

    options = RunOptions.from_values(options)
    timings, warnings = {}, []
    start = time.perf_counter()
    announce = progress or _quiet
    choice = device if device is not None else options.device
    choice = choice if hasattr(choice, "device") else choose_device(choice)

    announce("read", case)
    t0 = time.perf_counter()
    if isinstance(source, sitk.Image):   # messages name it by its case (Slicer: the volume)
        said = case or "in-memory image"
        ct = check_image(source, said)
        warnings.extend(check_ct_like(ct, said))
        name = "in-memory image"
    else:
        ct, read_warnings = read_ct(source)
        warnings.extend(read_warnings)
        name = said = os.path.abspath(source)
    check_head(ct, said if isinstance(source, sitk.Image) else str(source))
    inputs = {"ct": name, "dicom_series": series_record(ct)}   # None unless a DICOM folder
    scan = quality.check_scan(ct, mode=options.mode)  # unmeasurable: no networks run
    timings["read"] = time.perf_counter() - t0
    if scan.measurable:
        ct = padding_as_air(ct)   # a copy only where a padding value is present
    if not scan.measurable:
        return _refused(scan, ct, None, warnings, timings, start, choice.name,
                        {"inputs": inputs, "parameters": options.report_parameters()})

    announce("localise", case)
    t0 = time.perf_counter()

    def localise_on(c):
        models.to(c.device)
        net, meta = models.localizer
        return localize.localize_joints(ct, net, meta, c.device, c.half)

    located, choice = run_with_cpu_fallback(localise_on, choice, warnings, "localisation")
    warnings.extend(located.warnings)
    # the head's own mirror plane (None unless the scan holds a mirror-symmetric head): where a
    # missed joint is looked for, and the joints' left-right axis when the condyles found lean
    # from it (engine/joint_bounds.joints_axis)
    found = [point[2] for point in located.joints.values() if point is not None]
    reflection = symmetry.head_reflection(ct, float(np.mean(found)) if found else None)
    timings["localise"] = time.perf_counter() - t0

    announce("segment", case)
    t0 = time.perf_counter()

    def segment_on(c):
        models.to(c.device)
        return segment_joints(ct, located, models, c, warnings, reflection)

    joints, choice = run_with_cpu_fallback(segment_on, choice, warnings, "segmentation")
    timings["segment"] = time.perf_counter() - t0

    announce("postprocess", case)
    t0 = time.perf_counter()
    _release_freed_memory()
    # labels are made, cleaned and measured on the joints' region of the CT grid only (the
    # joint boxes plus the rays' reach): no full-size copy of the scan (a 0.2 mm CBCT must fit)
    margin = working_margin_mm(options.max_distance_mm, options.mode, options.cube_mm)
    region = joints_part.joints_region(ct, joints, margin)
    ct_region, local = joints_part.on_region(ct, joints, region)
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
    corner = joints_part.grid_corner(ct, ct_region, region, array)
    cleaned, ct_part = joints_part.labels_part(ct_region, array, box)
    del array, ct_region, local
    _release_freed_memory()
    timings["postprocess"] = time.perf_counter() - t0

    # a CT coarser than 0.3 mm is measured on the engine's 0.3 mm grid, its bones from the
    # network's probabilities (inference/fine_masks.py): the same whatever the CT's grid
    nv = _measure(cleaned, options, warnings, timings, announce, case, ct_part,
                  fine_masks.fine_mask_source(joints, options.enhance_tb), reflection, corner)
    _name_missing_condyles(warnings, joints)
    del cleaned
    extra = dict(models.provenance(), inputs=inputs,
                 localisation={"condyle_centres_lps_mm": located.joints,
                               "candidates": len(located.candidates)},
                 device_description=choice.description, parameters=options.report_parameters())
    turned = facing_reason(ct, nv.sides, None if reflection is None else reflection.normal)
    if turned:   # left and right cannot be told: the case, not a side, is not measurable
        return _refused(quality.Verdict([turned]), ct, None, warnings, timings, start,
                        choice.name, extra)
    places, pair = pair_reasons(nv.sides, located.midline_x)
    # the gate sees the labelled part, which reaches the rays' reach + 3 mm (>= 13 mm) past the
    # labels or ends at the CT's own edge: past what any check reads (the field-of-view check
    # looks 5 mm beyond the condylar head, the metal check the CT's part, the others labels
    # only), so its verdicts are those on the whole grid; then the label image for output
    sides, gate, cautions = quality.gate_measured(
        nv, scan, warnings, more_reasons=places, ct=ct_part, pair_reasons=pair,
        stands_alone=lambda values: stands_alone(values, reflection))
    del ct_part
    _release_freed_memory()
    nv.labels = joints_part.labels_for_output(ct, nv.labels, joints_part.in_ct(box, region),
                                              warnings)
    timings["total"] = time.perf_counter() - start
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
        source: label-map file (NIfTI, NRRD, MHA, Slicer .seg.nrrd; read by
            :func:`.io.label_map_sides.read_labels_for_measuring`: a NIfTI without orientation
            keeps its label values' sides) or a SimpleITK label image.
        options: :class:`.options.RunOptions` (mode, max distance, cube).
        ct: the CT the labels belong to (file or SimpleITK image): on their grid, or resampled
            onto it when they lie on another grid inside it (:func:`.io.label_grid.ct_on_label_grid`;
            the quality gate then checks the CT's own grid too); kept in the result (for
            report.png).
    Returns a :class:`CaseResult`.
    """
    from .inference import symmetry
    from .io.label_grid import ct_on_label_grid
    from .io.label_map_sides import check_pairing, read_labels_for_measuring, without_condyle_specks

    options = RunOptions.from_values(options, segment=False)   # given segments: nothing segmented
    timings, warnings = {}, []
    start = time.perf_counter()
    announce = progress or _quiet
    announce("read", case)
    t0 = time.perf_counter()
    inputs = {}
    if isinstance(source, sitk.Image):
        labels = source
    else:   # what reading it found, in the report; a NIfTI without orientation placed by its CT
        inputs["labels"] = os.path.abspath(source)
        if ct is not None and not isinstance(ct, sitk.Image):
            inputs["ct"] = os.path.abspath(ct)
        labels, ct = read_labels_for_measuring(source, ct, warnings)
    said = (case or "the label map") if isinstance(source, sitk.Image) else str(source)
    labels = without_condyle_specks(labels, said, warnings)
    check_pairing(labels, said)
    if ct is not None and not isinstance(ct, sitk.Image):
        inputs["ct"], (ct, ct_warnings) = os.path.abspath(ct), read_ct(ct)
        warnings.extend(ct_warnings)
    if ct is not None:
        inputs["dicom_series"] = series_record(ct)   # None unless read from DICOM
    acquired = ct_detail = reflection = own_grid_ct = None
    if ct is not None:
        acquired, ct_detail = _grid_of(ct), quality.ct_slice_detail(ct)
        own_grid_ct = ct
        reflection = symmetry.head_reflection(ct)   # the head's own left-right axis, if whole
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
        return _refused(scan, ct, labels, warnings, timings, start, "cpu", extra)
    nv = _measure(labels, options, warnings, timings, announce, case, ct, reflection=reflection)
    inputs["label_sides_swapped"] = bool(nv.swapped)   # Slicer renames the given segments
    turned = facing_reason(ct, nv.sides, None if reflection is None else reflection.normal)
    if turned:   # left and right cannot be told: the case, not a side, is not measurable
        return _refused(quality.Verdict([turned]), ct, labels, warnings, timings, start, "cpu",
                        extra)
    # a user's label map may define the condyle's extent otherwise: its volume only cautions
    sides, gate, cautions = quality.gate_measured(nv, scan, warnings, volume_decides=False, ct=ct,
                                                  own_grid_ct=own_grid_ct)
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
