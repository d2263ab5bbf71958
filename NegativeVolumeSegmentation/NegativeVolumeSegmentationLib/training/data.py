"""Training data: cached phantoms or a folder of user cases, cut into per-joint sources and sampled.

Sources of cases (config ``data.source``):
- ``phantom``: ``make_phantom(kind, seed, **options)`` for every seed of ``data.phantom.seeds``.
  Generating a head phantom takes tens of seconds, so each one is written once to
  ``<cache_dir>/<kind>-<key>/seed-<n>/`` (ct.nii.gz, labels.nii.gz, truth.json) and read back
  afterwards; ``key`` hashes the options and the phantom package's source code, so a changed
  phantom never reuses stale files. The stream is infinite: sample i draws a case, a joint and
  its augmentation from ``numpy.random.default_rng([train.seed, i, b])``, so a resumed run sees
  exactly the samples it would have seen.
- ``folder``: user cases, either one sub-folder per case holding a CT (``ct.*`` / ``image.*``) and
  a label map (``labels.*``, ``*.seg.nrrd``), or flat pairs ``NAME.nii.gz`` + ``NAME.seg.nrrd`` /
  ``NAME_labels.nii.gz``. Label values follow docs/interfaces.md; joint centres are the MC centroids,
  and which joint is the patient's left is decided by physical x (LPS +x = left).

Only a native-grid region around each joint (segmentation) or a coarse copy of the whole head
(localiser) is kept in memory.
"""

import hashlib
import json
import os
import time

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..io.ct import SEGMENTATION_EXTENSION, image_extension, read_ct
from ..io.label_grid import check_inside, same_grid
from ..errors import InputError
from ..io.segmentation_files import read_label_map
from ..inference import crops as joint_crops
from ..inference.crops import normalise
from . import augment, label_crops, localizer_task as localizer


class Case(object):
    """One annotated CT: ``ct`` (float32 HU), ``labels`` (uint8, values 1-6), ``centres``
    {side: LPS mm condyle centre or None}, ``name``, ``truth`` (phantom truth dict or None)."""

    def __init__(self, name, ct, labels, centres, truth=None):
        self.name, self.ct, self.labels, self.centres, self.truth = name, ct, labels, centres, truth


def _phantom_source_digest():
    from .. import phantom

    folder = os.path.dirname(phantom.__file__)
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as stream:
                digest.update(name.encode() + stream.read())
    return digest.hexdigest()


class PhantomCache(object):
    """Phantoms of one kind and option set, generated once and kept on disk."""

    def __init__(self, cache_dir, kind, options):
        key = json.dumps({"kind": kind, "options": options, "code": _phantom_source_digest()},
                         sort_keys=True)
        self.folder = os.path.join(cache_dir, "%s-%s" % (kind, hashlib.sha256(key.encode()).hexdigest()[:12]))
        self.kind, self.options = kind, dict(options)
        self.generation_s = []  # seconds spent generating each new phantom

    def case(self, seed):
        """The phantom of ``seed`` as a :class:`Case` (generated and cached if missing)."""
        from ..phantom import make_phantom, write_phantom

        folder = os.path.join(self.folder, "seed-%d" % seed)
        if not os.path.exists(os.path.join(folder, "truth.json")):
            start = time.perf_counter()
            try:
                phantom = make_phantom(self.kind, seed, **self.options)
            except TypeError as error:
                raise InputError("data.phantom.options: %s" % error)
            write_phantom(phantom, folder)
            self.generation_s.append(time.perf_counter() - start)
        ct = sitk.Cast(sitk.ReadImage(os.path.join(folder, "ct.nii.gz")), sitk.sitkFloat32)
        labels = sitk.ReadImage(os.path.join(folder, "labels.nii.gz"), sitk.sitkUInt8)
        with open(os.path.join(folder, "truth.json")) as stream:
            truth = json.load(stream)
        centres = {side: (np.array(truth[side]["condyle_center_lps_mm"]) if truth.get(side) else None)
                   for side in L.SIDES}
        return Case("seed-%d" % seed, ct, labels, centres, truth)


def centres_from_labels(labels, name):
    """{side: MC centroid (LPS mm) or None} and the labels, sides decided by physical x.

    When the label called left (1) lies at smaller x than the one called right (2), the labels
    are swapped (left/right follow the patient's geometry, LPS +x = left) and a note is returned.
    """
    c = {side: label_crops.physical_centroid(labels, L.CONDYLE[side]) for side in L.SIDES}
    notes = []
    if c[L.LEFT] is not None and c[L.RIGHT] is not None and c[L.LEFT][0] < c[L.RIGHT][0]:
        swapped = sitk.GetImageFromArray(augment.swap_sides(sitk.GetArrayViewFromImage(labels)))
        swapped.CopyInformation(labels)
        labels, c = swapped, {L.LEFT: c[L.RIGHT], L.RIGHT: c[L.LEFT]}
        notes.append("%s: label 1 (left condyle) lies on the patient's right (smaller LPS x); "
                     "left and right labels swapped" % name)
    if c[L.LEFT] is None and c[L.RIGHT] is None:
        raise InputError("%s: label map holds no mandibular condyle (values 1 or 2)" % name)
    return c, labels, notes


def _pair_in_folder(folder):
    files = sorted(f for f in os.listdir(folder) if not f.startswith("."))
    cts = [f for f in files if image_extension(f) and not f.lower().endswith(SEGMENTATION_EXTENSION)
           and f.split(".")[0].lower() in ("ct", "image")]
    segs = [f for f in files if f.lower().endswith(SEGMENTATION_EXTENSION)
            or (image_extension(f) and f.split(".")[0].lower() in ("labels", "label"))]
    if len(cts) != 1 or len(segs) != 1:
        raise InputError("%s: a case folder needs one CT (ct.* or image.*) and one label map "
                         "(labels.* or *.seg.nrrd); found %d and %d" % (folder, len(cts), len(segs)))
    return os.path.join(folder, cts[0]), os.path.join(folder, segs[0])


def _fingerprint(path, blocks=16, block_bytes=1 << 16):
    """(size, SHA-1 of 16 blocks of 64 KiB spread over the file) of a file: the same scan copied
    elsewhere matches; two scans alike in their first slices of air (uncompressed, one scanner)
    do not, as their middles differ."""
    size = os.path.getsize(path)
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for k in range(blocks):
            f.seek(k * max(size - block_bytes, 0) // max(blocks - 1, 1))
            digest.update(f.read(block_bytes))
    return size, digest.hexdigest()


def shared_cases(training_folder, held_out_folder):
    """Names (in ``held_out_folder``) of its cases whose CT is one of ``training_folder``'s: the
    same file, or a copy of it (:func:`_fingerprint`). [] when either holds no cases."""
    try:
        train = find_labelled_cases(training_folder)
        held = find_labelled_cases(held_out_folder)
    except InputError:
        return []
    known = set(_fingerprint(ct) for _name, ct, _labels in train)
    return [name for name, ct, _labels in held if _fingerprint(ct) in known]


def find_labelled_cases(folder):
    """[(name, ct path, label path)] of a folder of annotated cases (layouts: module docstring)."""
    if not os.path.isdir(folder):
        raise InputError("%s: no such folder" % folder)
    found, entries = [], sorted(e for e in os.listdir(folder) if not e.startswith("."))
    for entry in entries:
        full = os.path.join(folder, entry)
        if os.path.isdir(full):
            found.append((entry,) + _pair_in_folder(full))
    flat = [e for e in entries if os.path.isfile(os.path.join(folder, e))]
    for entry in flat:
        ext = image_extension(entry)
        if not ext or entry.lower().endswith(SEGMENTATION_EXTENSION):
            continue
        stem = entry[:-len(ext)]
        if stem.endswith("_labels"):
            continue
        for label in (stem + SEGMENTATION_EXTENSION, stem + "_labels" + ext):
            if label in flat:
                found.append((stem, os.path.join(folder, entry), os.path.join(folder, label)))
                break
    if not found:
        raise InputError("%s: no annotated cases (CT + label map) found" % folder)
    return found


def read_labelled_case(name, ct_path, label_path, notes=None):
    """A :class:`Case` from a CT file and its label map: on the CT's grid, or on another grid
    inside the CT (resampled onto the CT's, nearest neighbour, with a note); InputError (one
    line) for one reaching past the CT (:func:`..io.label_grid.check_inside`: a shifted origin,
    a wrong spacing or direction, another scan), which trained on misaligned patches before."""
    ct, warnings = read_ct(ct_path)
    ct = sitk.Cast(ct, sitk.sitkFloat32)   # as phantom cases: augmentations smooth in float
    labels = read_label_map(label_path)
    if not same_grid(labels, ct):
        check_inside(labels, ct, "case %s: its label map %s" % (name, label_path))
        labels = sitk.Resample(labels, ct, sitk.Transform(3, sitk.sitkIdentity),
                               sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        warnings = list(warnings) + ["%s: the label map lies on another grid than the CT; "
                                     "resampled onto the CT's (nearest neighbour)" % name]
    centres, labels, more = centres_from_labels(labels, name)
    if notes is not None:
        notes.extend(list(warnings) + more)
    return Case(name, ct, labels, centres)


class JointSource(object):
    """One joint ready for sampling: native-grid ROI of the CT and its class image (0/1/2), or,
    for real shapes, of the tissue map each sample renders its own CT from (``ct`` then None)."""

    def __init__(self, case_name, side, centre, ct_roi, class_roi, tissue_roi=None):
        self.case_name, self.side, self.centre = case_name, side, np.asarray(centre, float)
        self.ct, self.classes, self.tissues = ct_roi, class_roi, tissue_roi


def _roi_half_mm(cfg):
    """Half-size (mm) of the native ROI kept around a joint: room for any patch the augmentation
    can cut (crop or patch extent, scaling, jitter, offset, elastic displacement)."""
    data = cfg["data"]
    patch_mm = np.asarray(data["patch_size"]) * np.asarray(data["target_spacing_mm"])
    extent = np.maximum(patch_mm, data["crop_size_mm"])
    return 0.5 * np.linalg.norm(extent) * cfg["augment"]["scale"][1] + data["centre_jitter_mm"] \
        + np.abs(data["crop_offset_mm"]).max() + 3 * cfg["augment"]["elastic"]["magnitude_mm"] + 2.0


def joint_sources(case, cfg):
    """The :class:`JointSource` of each joint of ``case`` present in the scan."""
    data = cfg["data"]
    half = _roi_half_mm(cfg)
    out = []
    for side in L.SIDES:
        if case.centres.get(side) is None:
            continue
        ct = label_crops.roi_around(case.ct, case.centres[side], half)
        if ct is None:
            continue
        classes = label_crops.roi_around(
            label_crops.side_classes(case.labels, side, data["structures"]), case.centres[side],
            half)
        _check_structures(case.name, side, classes, data["structures"])
        out.append(JointSource(case.name, side, case.centres[side], ct, classes))
    return out


def _check_structures(name, side, classes, structures):
    """InputError when a joint trained on lacks one of the structures the model learns (class
    1, 2 ... in ``classes`` around it): its missing structure would be learnt as background (a
    case without temporal bones trained, and scored 100 % Dice for it, without a word)."""
    present = set(np.unique(sitk.GetArrayViewFromImage(classes)).tolist())
    missing = [structure for index, structure in enumerate(structures, 1) if index not in present]
    if missing:
        raise InputError("case %s: the %s joint has no %s labelled (values %s): every structure "
                         "the model learns must be labelled on each joint it trains on"
                         % (name, side, " or ".join(s.replace("_", " ") for s in missing),
                            ", ".join(str(label_crops.class_values(side, [s]).popitem()[0])
                                      for s in missing)))


def real_shape_sources(path, cfg):
    """The two joints of the real-anatomy label map at ``path`` (:mod:`.real_shapes`) as
    :class:`JointSource` items whose CT is rendered per sample (:mod:`.synth_ct`)."""
    from .real_shapes import tissues_and_labels

    tissues, labels, _ = tissues_and_labels(sitk.ReadImage(path))
    name = "real-shapes:%s" % os.path.basename(path)
    centres, labels, _ = centres_from_labels(labels, name)
    half = _roi_half_mm(cfg)
    out = []
    for side in L.SIDES:
        if centres.get(side) is None:
            continue
        classes = label_crops.side_classes(labels, side, cfg["data"]["structures"])
        out.append(JointSource(name, side, centres[side], None,
                               label_crops.roi_around(classes, centres[side], half),
                               label_crops.roi_around(tissues, centres[side], half)))
    return out


def segmentation_sample(source, rng, cfg):
    """(input float32 z,y,x, classes int64 z,y,x) of one augmented training patch of a joint."""
    data, aug = cfg["data"], cfg["augment"]
    spacing = np.asarray(data["target_spacing_mm"], float)
    size = np.asarray(data["patch_size"], int)
    slack = np.maximum(data["centre_jitter_mm"],
                       0.5 * (np.asarray(data["crop_size_mm"]) - size * spacing))
    offset = np.asarray(data["crop_offset_mm"]) + rng.uniform(-slack, slack)
    centre = joint_crops.crop_centre(source.centre, source.side, offset)
    reference = joint_crops.crop_reference(centre, source.side, size, spacing)
    if rng.uniform() < aug["flip"]:
        reference = augment.flipped_reference(reference)
    transform = augment.random_spatial(rng, reference, centre, aug)
    if source.tissues is not None:
        from . import synth_ct

        tissues = sitk.GetArrayFromImage(
            label_crops.crop_classes(source.tissues, reference, transform))
        hu = synth_ct.render(tissues, rng, spacing[::-1])
    else:
        ct = source.ct
        if rng.uniform() < aug["spacing"]["probability"]:
            ct = augment.coarser_spacing(ct, rng, aug["spacing"]["max_mm"])
        hu = sitk.GetArrayFromImage(joint_crops.crop_ct(ct, reference, transform))
    classes = sitk.GetArrayFromImage(label_crops.crop_classes(source.classes, reference, transform))
    hu = augment.intensity(hu, rng, aug["intensity"], spacing[::-1])
    return normalise(hu, data["intensity"]), classes.astype(np.int64)


class TrainingStream(object):
    """Infinite seeded stream of training batches for the config's task and data source."""

    def __init__(self, cfg, progress=None):
        self.cfg = cfg
        self.notes = []
        self.cache = None
        self.items = []  # JointSource (segmentation) or localizer.HeadSource (localiser)
        data = cfg["data"]
        if data["source"] == "phantom":
            ph = data["phantom"]
            self.cache = PhantomCache(ph["cache_dir"], ph["kind"], ph["options"])
            loaders = [(lambda s=s: self.cache.case(s)) for s in ph["seeds"]]
        else:
            loaders = [(lambda c=c: read_labelled_case(c[0], c[1], c[2], self.notes))
                       for c in find_labelled_cases(data["folder"])]
        bar = progress(loaders, desc="cases", unit="case") if progress else loaders
        for load in bar:
            case = load()
            if cfg["task"] == "localizer":
                self.items.append(localizer.head_source(case, cfg))
            else:
                self.items.extend(joint_sources(case, cfg))
        if not self.items:
            raise InputError("no joints found in the training data")
        self.shape_items = []  # real-anatomy joints rendered per sample (data.real_shapes)
        if data["real_shapes"]["probability"] > 0:
            make = localizer.real_shape_sources if cfg["task"] == "localizer" else real_shape_sources
            self.shape_items = make(data["real_shapes"]["path"], cfg)

    def describe(self):
        """One-line description of the training data (stored in the checkpoint)."""
        data = self.cfg["data"]
        if data["source"] == "phantom":
            seeds = data["phantom"]["seeds"]
            text = ("%s phantoms, seeds %d..%d (%d cases, %d training items), options %s"
                    % (data["phantom"]["kind"], min(seeds), max(seeds), len(seeds),
                       len(self.items), json.dumps(data["phantom"]["options"], sort_keys=True)))
        else:
            text = "folder %s (%d training items)" % (os.path.abspath(data["folder"]), len(self.items))
        if self.shape_items:
            text += ("; with probability %g the real-anatomy label map %s (%d %s) rendered with "
                     "random appearance" % (data["real_shapes"]["probability"],
                                            os.path.basename(data["real_shapes"]["path"]),
                                            len(self.shape_items),
                                            "heads" if self.cfg["task"] == "localizer" else "joints"))
        return text

    def batch(self, iteration):
        """(inputs N x 1 x D x H x W float32, targets N x D x H x W int64) numpy arrays."""
        xs, ys = [], []
        for b in range(self.cfg["data"]["batch_size"]):
            rng = np.random.default_rng([self.cfg["train"]["seed"], int(iteration), b])
            pool = self.items
            if self.shape_items and rng.uniform() < self.cfg["data"]["real_shapes"]["probability"]:
                pool = self.shape_items
            item = pool[int(rng.integers(len(pool)))]
            if self.cfg["task"] == "localizer":
                x, y = localizer.sample(item, rng, self.cfg)
            else:
                x, y = segmentation_sample(item, rng, self.cfg)
            xs.append(x[None])
            ys.append(y)
        return np.stack(xs), np.stack(ys)
