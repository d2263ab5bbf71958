"""Held-out evaluation of a trained segmentation network or joint localiser.

Segmentation, per case and joint (cases: phantoms of ``evaluate.seeds``, never training seeds, or
the labelled cases of ``evaluate.folder``):
1. crop the CT around the TRUE condyle centre (so localisation errors do not enter these scores)
   at the model's spacing, mirrored for the right joint (:mod:`.joint_crops`); one forward pass;
2. resample the class probabilities (linear) back onto the ORIGINAL CT grid and take the argmax;
   a model of both structures then gets the pipeline's cleaning (``postprocess.clean_masks``:
   largest condyle component, holes filled, the labels' extent), so the scores are those of what
   ``nvseg run`` outputs;
3. score each structure (MC, TB) on the CT grid inside the crop box (the TB label reaches 25 mm
   around the joint, beyond the crop; ``truth_fraction_in_box`` tells how much of it was inside):
   Dice %, binary cross-entropy of the probability (nats), HD, HD95, ASSD in mm (definitions in
   :mod:`..metrics` and docs/training.md);
4. negative volume: the NV engine on the predicted label map vs the NV engine on the truth label
   map (both on the CT grid): volumes (mm^3), relative error %, Dice % of the two NV voxel masks;
   plus the phantom's own implicit NV truth where there is one.
Localiser, per case: joint blobs (:func:`.localizer.detect_joints`) vs the true condyle centres:
distance (mm), detections, left/right assignment, ball Dice %.
"""

import json
import math
import os
import time

import numpy as np
import SimpleITK as sitk
import torch

from .. import labels as L
from ..inference import postprocess
from ..inference.checkpoint import load_checkpoint
from ..io.atomic import atomic_path
from ..errors import InputError
from .metrics import binary_cross_entropy, dice_percent, structure_scores
from ..inference import crops as joint_crops
from . import label_crops, localizer_task as localizer
from ..inference.crops import normalise
from .data import PhantomCache, find_labelled_cases, read_labelled_case
from .trainer import pick_device

STRUCTURE_NAMES = {"condyle": L.CONDYLE, "temporal_bone": L.TEMPORAL_BONE}


def _forward(network, array, device):
    """Softmax probabilities (C x z x y x x numpy float32) of one normalised input array."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(array)[None, None]).to(device)
        return torch.softmax(network(x).float(), dim=1)[0].cpu().numpy()


def predict_joint(network, meta, ct, centre, side, device):
    """(class probabilities, crop reference) of one joint; probabilities C x z x y x x."""
    data = meta["extra"]["config"]["data"]
    spacing = meta["target_spacing_mm"]
    size = joint_crops.size_for(data["crop_size_mm"], spacing)
    crop, _ = label_crops.crop_joint(ct, None, centre, side, size, spacing,
                                     data["crop_offset_mm"])
    hu = sitk.GetArrayFromImage(crop)   # the crop image is its own reference grid
    return _forward(network, normalise(hu, meta["intensity"]), device), crop


def probabilities_on(native, probabilities, reference):
    """Class probabilities resampled (linear) onto the ``native`` grid: C x z x y x x, plus the
    mask of native voxels inside the crop box. Outside the box: background probability 1."""
    out = []
    for index, prob in enumerate(probabilities):
        image = sitk.GetImageFromArray(prob.astype(np.float32))
        image.CopyInformation(reference)
        out.append(sitk.GetArrayFromImage(joint_crops.resample_to(
            image, native, sitk.sitkLinear, 1.0 if index == 0 else 0.0, None, sitk.sitkFloat32)))
    ones = sitk.Image(reference.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(reference)
    inside = sitk.GetArrayFromImage(joint_crops.resample_to(ones, native, sitk.sitkNearestNeighbor,
                                                            0, None, sitk.sitkUInt8)) > 0
    return np.stack(out), inside


def _roi_offset(full, roi):
    index = full.TransformPhysicalPointToIndex(roi.GetOrigin())
    size = roi.GetSize()
    return tuple(slice(index[a], index[a] + size[a]) for a in (2, 1, 0))


def evaluate_segmentation_case(case, network, meta, device, nv_options):
    """Scores of both joints of one case; returns (list of per-joint dicts, predicted label map)."""
    data = meta["extra"]["config"]["data"]
    structures = meta["extra"]["structures"]
    predicted = np.zeros(sitk.GetArrayViewFromImage(case.labels).shape, np.uint8)
    truth_arr = sitk.GetArrayViewFromImage(case.labels)
    joints = []
    for side in L.SIDES:
        if case.centres.get(side) is None:
            continue
        start = time.perf_counter()
        probs, reference = predict_joint(network, meta, case.ct, case.centres[side], side, device)
        half = 0.5 * np.asarray(data["crop_size_mm"]) + 2 * max(case.ct.GetSpacing())
        native = label_crops.roi_around(case.labels, joint_crops.crop_centre(
            case.centres[side], side, data["crop_offset_mm"]), half)
        native_probs, inside = probabilities_on(native, probs, reference)
        classes = np.argmax(native_probs, axis=0)
        if set(structures) == set(STRUCTURE_NAMES):  # the pipeline's cleaning (postprocess.py)
            mc_index = 1 + structures.index("condyle")
            tb_index = 1 + structures.index("temporal_bone")
            mc, tb = postprocess.clean_masks((classes == mc_index) & inside,
                                             (classes == tb_index) & inside,
                                             postprocess.GridPoints(native))
            classes = np.where(mc, mc_index, np.where(tb, tb_index, 0))
        seconds = time.perf_counter() - start
        box = _roi_offset(case.labels, native)
        spacing = case.ct.GetSpacing()[::-1]
        result = {"case": case.name, "side": side, "seconds": seconds}
        for index, name in enumerate(structures, start=1):
            value = STRUCTURE_NAMES[name][side]
            truth_full = truth_arr[box] == value
            truth = truth_full & inside
            pred = (classes == index) & inside
            scores = structure_scores(pred, truth, spacing)
            scores["cross_entropy"] = binary_cross_entropy(native_probs[index][inside], truth[inside])
            scores["truth_fraction_in_box"] = float(truth.sum()) / max(int(truth_full.sum()), 1)
            result[name] = scores
            view = predicted[box]
            view[pred & (view == 0)] = value
        joints.append(result)
    pred_image = sitk.GetImageFromArray(predicted)
    pred_image.CopyInformation(case.labels)
    if set(structures) == set(STRUCTURE_NAMES) and joints:
        _negative_volumes(case, pred_image, joints, nv_options)
    return joints, pred_image


def _negative_volumes(case, pred_image, joints, nv_options):
    from ..engine.measure import measure_negative_volume

    truth_labels = sitk.Cast(case.labels, sitk.sitkUInt8)
    truth_labels = sitk.Mask(truth_labels, sitk.Cast(truth_labels < 5, sitk.sitkUInt8))
    try:
        on_pred = measure_negative_volume(pred_image, **nv_options)
        on_truth = measure_negative_volume(truth_labels, **nv_options)
    except Exception as error:  # the engine's failure is recorded, scoring goes on
        for joint in joints:
            joint["negative_volume"] = {"error": "%s: %s" % (type(error).__name__, error)}
        return
    pred_nv = sitk.GetArrayViewFromImage(on_pred.labels)
    truth_nv = sitk.GetArrayViewFromImage(on_truth.labels)
    for joint in joints:
        side = joint["side"]
        p, t = on_pred.sides.get(side), on_truth.sides.get(side)
        value = L.NEGATIVE_VOLUME[side]
        nv = {"predicted_mm3": p["negative_volume_mm3"] if p else None,
              "truth_masks_mm3": t["negative_volume_mm3"] if t else None,
              "dice_percent": dice_percent(pred_nv == value, truth_nv == value)}
        if p and t and t["negative_volume_mm3"] > 0:
            nv["relative_error_percent"] = 100.0 * (p["negative_volume_mm3"] - t["negative_volume_mm3"]) \
                / t["negative_volume_mm3"]
        if case.truth and case.truth.get(side):
            nv["phantom_truth_mm3"] = case.truth[side]["negative_volume_mm3"]
        joint["negative_volume"] = nv


def evaluate_localizer_case(case, network, meta, device, threshold):
    """Joint detection scores of one case (see module docstring)."""
    start = time.perf_counter()
    cfg = {"data": dict(meta["extra"]["config"]["data"], intensity=meta["intensity"],
                        target_spacing_mm=meta["target_spacing_mm"])}
    array, reference = localizer.whole_input(case.ct, cfg)
    prob = _forward(network, array, device)[1]
    found = localizer.detect_joints(prob, reference, threshold)
    seconds = time.perf_counter() - start
    truths = {s: c for s, c in case.centres.items() if c is not None}
    target = sitk.GetArrayFromImage(localizer.ball_target(reference, list(truths.values()),
                                                          meta["extra"]["crop"]["ball_radius_mm"]))
    result = {"case": case.name, "seconds": seconds, "detections": len(found),
              "true_joints": len(truths), "ball_dice_percent": dice_percent(prob >= threshold, target > 0)}
    for side, centre in truths.items():
        if not found:
            result[side] = {"error_mm": math.inf, "side_correct": None}
            continue
        dist = [float(np.linalg.norm(np.asarray(f["centre_lps_mm"]) - centre)) for f in found]
        best = int(np.argmin(dist))
        result[side] = {"error_mm": dist[best],
                        "side_correct": None if found[best]["side"] is None else found[best]["side"] == side}
    return result


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    arr = np.asarray(values, float)
    if not np.all(np.isfinite(arr)):  # e.g. an empty prediction: no surface distance exists
        return {"mean": math.inf, "std": math.nan, "n": int(arr.size)}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "n": int(arr.size)}


def summarise(per_joint, structures):
    """{structure: {side or "both": {metric: {mean, std, n}}}} and the NV summary."""
    out = {}
    metrics = ("dice_percent", "cross_entropy", "hd_mm", "hd95_mm", "assd_mm")
    for name in structures:
        out[name] = {}
        for side in L.SIDES + ("both",):
            rows = [j[name] for j in per_joint if side in ("both", j["side"])]
            out[name][side] = {m: _stats([r[m] for r in rows]) for m in metrics}
    rows = [j["negative_volume"] for j in per_joint if "negative_volume" in j
            and "error" not in j["negative_volume"]]
    if rows:
        out["negative_volume"] = {m: _stats([r.get(m) for r in rows]) for m in
                                  ("dice_percent", "relative_error_percent", "predicted_mm3",
                                   "truth_masks_mm3")}
        out["negative_volume"]["abs_relative_error_percent"] = _stats(
            [abs(r["relative_error_percent"]) for r in rows if r.get("relative_error_percent") is not None])
    return out


def evaluation_cases(cfg):
    """Loaders of the held-out cases: evaluate.folder's cases, else phantoms of evaluate.seeds."""
    ev = cfg["evaluate"]
    if ev["folder"]:
        return [(lambda c=c: read_labelled_case(*c)) for c in find_labelled_cases(ev["folder"])]
    ph = cfg["data"]["phantom"]
    cache = PhantomCache(ph["cache_dir"], ph["kind"], ev["phantom_options"])
    return [(lambda s=s: cache.case(s)) for s in ev["seeds"]]


def evaluate(cfg, checkpoint=None, progress=True):
    """Evaluate the trained model of ``cfg`` (or ``checkpoint``); writes ``evaluation.json``."""
    from tqdm import tqdm

    path = checkpoint or os.path.join(cfg["output"]["dir"], cfg["output"]["model_name"])
    if not os.path.exists(path):
        raise InputError("%s: no trained model; run nvseg train --config first" % path)
    device = pick_device(cfg["train"]["device"])
    if device.type == "cpu":
        torch.set_num_threads(cfg["train"]["threads"])
    network, meta = load_checkpoint(path, device=device)
    task = meta.get("extra", {}).get("task", "segmentation")
    ev = cfg["evaluate"]
    nv_options = {"max_distance": ev["max_distance_mm"], "mode": ev["mode"]}
    per_case = []
    for load in tqdm(evaluation_cases(cfg), desc="evaluate", unit="case", disable=not progress):
        case = load()
        if task == "localizer":
            per_case.append(evaluate_localizer_case(case, network, meta, device, ev["threshold"]))
        else:
            per_case.extend(evaluate_segmentation_case(case, network, meta, device, nv_options)[0])
    if task == "localizer":
        summary = {"error_mm": {s: _stats([c[s]["error_mm"] for c in per_case if s in c]) for s in L.SIDES},
                   "ball_dice_percent": _stats([c["ball_dice_percent"] for c in per_case]),
                   "detection_rate": _stats([float(c[s]["error_mm"] <= meta["extra"]["crop"]["ball_radius_mm"])
                                             for c in per_case for s in L.SIDES if s in c]),
                   "seconds_per_case": _stats([c["seconds"] for c in per_case])}
    else:
        summary = summarise(per_case, meta["extra"]["structures"])
        summary["seconds_per_joint"] = _stats([c["seconds"] for c in per_case])
    result = {"model": os.path.abspath(path), "task": task, "config_name": cfg["name"],
              "held_out": ev["folder"] or {"seeds": ev["seeds"], "phantom_options": ev["phantom_options"]},
              "summary": summary, "per_case": per_case}
    out = os.path.join(os.path.dirname(os.path.abspath(path)), "evaluation.json")
    with atomic_path(out) as temporary:
        with open(temporary, "w") as stream:
            json.dump(result, stream, indent=2, default=lambda v: None)
    result["path"] = out
    return result
