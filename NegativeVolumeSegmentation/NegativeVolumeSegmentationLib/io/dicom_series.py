"""Which series of a DICOM folder is the CT to measure.

A case's DICOM folder holds one series, or a study's several series in it or in subfolders (a CD
or PACS export's DICOM / patient / study / series tree: found in :mod:`.dicom_files`). A study
often holds several series: the scout (topogram, a localizer of one to three images), the axial
reconstructions with a bone and a soft-tissue kernel, reformats (sagittal or oblique MPRs,
DERIVED), a dose report (a secondary capture or structured report) and, in TMJ protocols, a
second acquisition with the mouth open. GDCM groups the files by SeriesInstanceUID; here each
series is described from its first file's header and ranked:

1. CT (or no Modality tag) before any other modality (MR, SC, SR, ...);
2. not a localizer (ImageType without LOCALIZER);
3. ORIGINAL before DERIVED (a reformat, a secondary capture);
4. more slices (a thinner reconstruction of the same range);
5. then the lower SeriesNumber (the first acquired), then the UID, so the choice never depends
   on the order of the files on disk;
6. of reconstructions of the first one's acquisition (the same AcquisitionTime, frame of
   reference, number of slices and rank by rules 1-3, and the same field of view: another
   kernel, never a DERIVED copy of an ORIGINAL, never a targeted reconstruction of the other
   joint), the one with the sharpest edges, measured on the images by the reader
   (:func:`.dicom.edge_sharpness`): kernel names are the vendors' own (H70h, Br64, BONE, FC30,
   YC ...) and cannot be ranked. A second acquisition (the mouth opened, a repeat) has another
   AcquisitionTime and keeps rule 5.

A series is described by its first file, or by its middle one when the first is a localizer
filed in a series of more files (some exports number the scout 1 in the axial series: read apart
by :func:`.dicom_files.split_series`). An enhanced (multi-frame) CT file is counted by its frames
and named so; it is not read here (:func:`.dicom.single_file_reason`).

CT volumes of more than one study (two patients, or one patient's two dates) are refused: which
one the user meant cannot be told. Header texts are cleaned (:func:`.dicom_files.tag_text`)
before they reach a message or the image's metadata; descriptions are cut in messages.

The series measured is named in a warning together with the CT series left out (those that
could have been measured: another kernel, a second mouth position) and those skipped; report.json
names it under ``inputs.dicom_series``. To measure another series, give a folder that holds only
its files. SimpleITK/GDCM only (the images are scored in :mod:`.dicom`).
"""

import os

import numpy as np

from ..errors import InputError
from .dicom_files import dicom_reader, tag_text
from .quiet import quiet_libraries

TAGS = (("uid", "0020|000e"), ("number", "0020|0011"), ("description", "0008|103e"),
        ("kernel", "0018|1210"), ("thickness", "0018|0050"), ("modality", "0008|0060"),
        ("image_type", "0008|0008"), ("acquired", "0008|0032"), ("frame", "0020|0052"),
        ("study", "0020|000d"), ("patient", "0010|0020"), ("date", "0008|0020"),
        ("study_description", "0008|1030"), ("frames", "0028|0008"), ("position", "0020|0032"),
        ("orientation", "0020|0037"), ("pixel_spacing", "0028|0030"), ("rows", "0028|0010"),
        ("columns", "0028|0011"))
SHOWN_CHARACTERS = 64             # a description in a message is cut to this (DICOM LO: 64)
VOLUME_MODALITIES = ("CT", "")    # CBCT exports say CT; a file without the tag is given a chance
MIN_VOLUME_SLICES = 3             # a scout has 1-3 images; a volume of a joint has dozens
SAME_FIELD_MM = 10.0              # reconstructions of one acquisition centre their fields of view
                                  # together; targeted ones of the two joints lie ~100 mm apart


def shown(text, limit=SHOWN_CHARACTERS):
    """``text`` cut to ``limit`` characters for a message (the cut marked "...")."""
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _header_info(path):
    """The TAGS of one file's header as cleaned texts ("" where absent or unreadable)."""
    info = dict((key, "") for key, _ in TAGS)
    reader = dicom_reader()
    reader.SetFileName(path)
    try:
        with quiet_libraries():
            reader.ReadImageInformation()
        for key, tag in TAGS:
            if reader.HasMetaDataKey(tag):
                info[key] = tag_text(reader.GetMetaData(tag))
    except RuntimeError:
        pass
    return info


def _image_type(info):
    return [v.strip().upper() for v in info["image_type"].split("\\") if v.strip()]


def _floats(text, count):
    try:
        values = [float(v) for v in text.split("\\")]
    except ValueError:
        return None
    return values if len(values) == count else None


def field_centre(info):
    """(centre of the described slice's field of view, LPS mm; its unit normal) from its
    ImagePositionPatient, ImageOrientationPatient, PixelSpacing, Rows and Columns; (None, None)
    when a tag is missing or malformed."""
    position = _floats(info["position"], 3)
    orientation = _floats(info["orientation"], 6)
    spacing = _floats(info["pixel_spacing"], 2)       # row spacing (along a column), column
    size = [_floats(info[key], 1) for key in ("rows", "columns")]
    if position is None or orientation is None or spacing is None or None in size:
        return None, None
    row, column = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, column)
    if np.linalg.norm(normal) == 0:
        return None, None
    centre = (np.asarray(position) + row * spacing[1] * (size[1][0] - 1) / 2.0
              + column * spacing[0] * (size[0][0] - 1) / 2.0)
    return centre, normal / np.linalg.norm(normal)


def describe_series(sid, files):
    """What the header of a series' first file says (its middle file's when the first is a
    localizer among more than MIN_VOLUME_SLICES files): dict with uid, number, description,
    kernel, thickness (SliceThickness, mm as written), acquired (AcquisitionTime), frame
    (FrameOfReferenceUID), study (StudyInstanceUID), patient (PatientID), date (StudyDate),
    study_description, modality (upper case), image_type (list of upper-case values), the
    geometry tags (position, orientation, pixel_spacing, rows, columns: :func:`field_centre`),
    slices (number of files, or of frames of one multi-frame file) and multiframe (bool). Texts
    as :func:`tag_text` cleans them; missing tags are empty strings (an empty list for
    image_type)."""
    info = _header_info(files[0])
    if "LOCALIZER" in _image_type(info) and len(files) > MIN_VOLUME_SLICES:
        middle = _header_info(files[len(files) // 2])
        if middle["uid"] and "LOCALIZER" not in _image_type(middle):
            info = middle
    info["uid"] = info["uid"] or sid
    info["modality"] = info["modality"].upper()
    info["image_type"] = _image_type(info)
    frames = _floats(info["frames"], 1)
    info["multiframe"] = len(files) == 1 and frames is not None and frames[0] > 1
    info["slices"] = int(frames[0]) if info["multiframe"] else len(files)
    return info


def is_volume(info):
    """Whether a described series can be the CT to measure: CT (or no modality), not a localizer,
    at least MIN_VOLUME_SLICES files (one multi-frame file is not read here)."""
    return (info["modality"] in VOLUME_MODALITIES and "LOCALIZER" not in info["image_type"]
            and info["slices"] >= MIN_VOLUME_SLICES and not info.get("multiframe"))


def _number(info):
    """SeriesNumber as an integer; a series without one ranks after the numbered."""
    try:
        return int(float(info["number"]))
    except ValueError:
        return 1 << 30


def rank(info):
    """Sort key, smaller first: the module docstring's order."""
    return (info["modality"] not in VOLUME_MODALITIES, "LOCALIZER" in info["image_type"],
            info["image_type"][:1] == ["DERIVED"], -info["slices"] * (not info.get("multiframe")),
            _number(info), info["uid"])


def label(info):
    """Short human name of a series: ``series 3 'Bone 0.6' (H70h, 301 slices)``, with ``in
    SE0003`` where it lies in a subfolder of the case's folder."""
    name = "series %s" % (info["number"] or info["uid"])
    if info["description"]:
        name += " '%s'" % shown(info["description"])
    if info.get("folder"):
        name += " in %s" % info["folder"]
    what = [shown(info["kernel"], 16)] if info["kernel"] else []
    if info["modality"] not in VOLUME_MODALITIES:
        what.append(info["modality"])
    elif "LOCALIZER" in info["image_type"]:
        what.append("localizer")
    elif info["image_type"][:1] == ["DERIVED"]:
        what.append("derived")
    count = info["slices"]
    if info.get("multiframe"):
        what.append("one multi-frame file of %d frames, not read here: convert it to a classic "
                    "series or NIfTI to measure it" % count)
    else:
        what.append("%d slices" % count if count >= MIN_VOLUME_SLICES else
                    "%d file%s" % (count, "" if count == 1 else "s"))
    return "%s (%s)" % (name, ", ".join(what))


def same_field(a, b, limit=SAME_FIELD_MM):
    """Whether two described series' fields of view are centred together (within ``limit`` mm
    across their slices; :func:`field_centre`). Without the geometry tags, or for slices of
    different orientations (a reformat: their first slices do not compare): True."""
    (centre_a, normal), (centre_b, normal_b) = field_centre(a), field_centre(b)
    if centre_a is None or centre_b is None or abs(float(normal @ normal_b)) < 0.999:
        return True
    offset = centre_b - centre_a
    return float(np.linalg.norm(offset - normal * float(offset @ normal))) <= limit


def same_acquisition(a, b):
    """Whether two described series are reconstructions of one acquisition (another kernel,
    another slice thickness of the same slices): both CT volumes of as many slices, with the
    same non-empty AcquisitionTime, the same frame of reference, the same rank class (both
    ORIGINAL, or both DERIVED: a DERIVED copy is never a twin of the ORIGINAL it was made from)
    and one field of view (:func:`same_field`: targeted reconstructions of the left and the
    right joint are not twins). A second acquisition (the mouth opened, a repeat after motion)
    has another AcquisitionTime."""
    return (is_volume(a) and is_volume(b) and a["slices"] == b["slices"]
            and rank(a)[:3] == rank(b)[:3]
            and a["acquired"] != "" and a["acquired"] == b["acquired"]
            and a["frame"] == b["frame"] and same_field(a, b))


def check_one_study(described, name):
    """InputError when the CT volumes among ``described`` (:func:`describe_series` dicts, in rank
    order) belong to more than one study: StudyInstanceUIDs differ (one patient's two dates), or
    PatientIDs do (two patients); which one the user meant cannot be told. The line names each
    study by its PatientID, StudyDate and StudyDescription where present."""
    for key in ("study", "patient"):
        studies = []
        for info in described:
            if is_volume(info) and info[key] and all(info[key] != s[key] for s in studies):
                studies.append(info)
        if len(studies) > 1:
            break
    else:
        return
    names = []
    for info in studies:
        date = info["date"]
        if len(date) == 8 and date.isdigit():       # DICOM DA: YYYYMMDD
            date = "%s-%s-%s" % (date[:4], date[4:6], date[6:])
        text = ("patient %s" % shown(info["patient"], 32)) if info["patient"] else "study"
        text += (" of %s" % shown(date, 16)) if date else ""
        text += (" '%s'" % shown(info["study_description"])) if info["study_description"] else ""
        names.append(text + ": " + label(info))
    raise InputError("%s: folder holds the CT series of %d studies, %s; give each study its own "
                     "folder" % (name, len(studies), "; ".join(names)))


def choose_series(series, name, folder=None, sharpness=None):
    """(series id, files, info, warnings) of the series to measure among ``series`` (as
    :func:`dicom_series` gives them, at least one; ``folder``: the case's folder, whose
    subfolders the labels name). ``sharpness``: callable(files) -> the edges' gradient of a
    series (:func:`.dicom.edge_sharpness`); of reconstructions of the first-ranked series'
    acquisition (:func:`same_acquisition`) the sharpest is measured (a bone kernel's edges are
    the surfaces measured; a soft kernel reads the NV low: the real head blurred by sigma 0.6 mm,
    -4.8 %). One warning when there are several: the one measured, the other CT volumes left
    out, the rest skipped. InputError when the CT volumes are of several studies
    (:func:`check_one_study`)."""
    described = [(describe_series(sid, files), sid, files) for sid, files in series]
    for info, _sid, files in described:
        where = sorted(set(os.path.relpath(os.path.dirname(f), folder) if folder else os.curdir
                           for f in files))
        info["folder"] = "+".join(w for w in where if w != os.curdir)
    described.sort(key=lambda item: rank(item[0]))
    check_one_study([item[0] for item in described], name)
    twins = [k for k, item in enumerate(described) if k == 0
             or same_acquisition(described[0][0], item[0])]
    why = ""
    if sharpness is not None and len(twins) > 1:
        scores = dict((k, sharpness(described[k][2])) for k in twins)
        kept = max(twins, key=lambda k: (scores[k], -k))   # on a tie the first-ranked
        why = (", the sharpest of %d reconstructions of its acquisition (edge gradient %.0f "
               "HU/mm, the other%s %s)" % (len(twins), scores[kept], "s" if len(twins) > 2 else
                                           "", ", ".join("%.0f" % scores[k] for k in twins
                                                         if k != kept)))
        described.insert(0, described.pop(kept))
    info, sid, files = described[0]
    warnings = []
    if len(described) > 1:
        others = [item[0] for item in described[1:]]
        left = [o for o in others if is_volume(o)]
        skipped = [o for o in others if not is_volume(o)]
        text = "%s: folder holds %d DICOM series; measured %s%s" % (name, len(described),
                                                                    label(info), why)
        if left:
            text += "; other CT series not measured: %s (to measure one, give a folder " \
                    "holding only its files)" % ", ".join(
                        label(o) + ("" if same_field(info, o) else " of another field of view")
                        for o in left)
        if skipped:
            text += "; skipped: %s" % ", ".join(label(o) for o in skipped)
        warnings.append(text)
    return sid, files, info, warnings


RECORDED = ("uid", "number", "description", "kernel", "thickness")   # report.json's record


def tag_image(image, info):
    """Write the measured series' identity (``info`` of :func:`describe_series`) into the image's
    metadata under its DICOM tags, as SimpleITK does for a single DICOM file it reads (the
    quality gate reads the slice thickness there: :data:`..quality.SLICE_THICKNESS_TAG`)."""
    for key, tag in TAGS:
        if key in RECORDED and info.get(key):
            image.SetMetaData(tag, str(info[key]))


def series_record(image):
    """``inputs.dicom_series`` of report.json: {uid, number, description, kernel, thickness}
    (the header's strings; those it lacks left out) of a CT read from a DICOM folder
    (:func:`tag_image`), or None for any other image."""
    keys = image.GetMetaDataKeys()
    record = dict((key, image.GetMetaData(tag)) for key, tag in TAGS
                  if key in RECORDED and tag in keys)
    return record if "uid" in record else None
