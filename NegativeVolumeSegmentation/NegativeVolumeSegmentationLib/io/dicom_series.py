"""Which series of a DICOM folder is the CT to measure.

A study exported into one folder often holds several series: the scout (topogram, a localizer of
one to three images), the axial reconstructions with a bone and a soft-tissue kernel, reformats
(sagittal or oblique MPRs, DERIVED), a dose report (a secondary capture or structured report)
and, in TMJ protocols, a second acquisition with the mouth open. GDCM groups the files by
SeriesInstanceUID; here each series is described from its first file's header and ranked:

1. CT (or no Modality tag) before any other modality (MR, SC, SR, ...);
2. not a localizer (ImageType without LOCALIZER);
3. ORIGINAL before DERIVED (a reformat, a secondary capture);
4. more slices (a thinner reconstruction of the same range);
5. then the lower SeriesNumber (the first acquired), then the UID, so the choice never depends
   on the order of the files on disk.

The series measured is named in a warning together with the CT series left out (those that
could have been measured: another kernel, a second mouth position) and those skipped; report.json
names it under ``inputs.dicom_series``. To measure another series, its files go into a folder of
their own. numpy-free; SimpleITK/GDCM only.
"""

import SimpleITK as sitk

from .quiet import quiet_libraries

TAGS = (("uid", "0020|000e"), ("number", "0020|0011"), ("description", "0008|103e"),
        ("kernel", "0018|1210"), ("thickness", "0018|0050"), ("modality", "0008|0060"),
        ("image_type", "0008|0008"))
VOLUME_MODALITIES = ("CT", "")    # CBCT exports say CT; a file without the tag is given a chance
MIN_VOLUME_SLICES = 3             # a scout has 1-3 images; a volume of a joint has dozens


def dicom_series(folder):
    """DICOM series directly in ``folder``: list of (series id, file names sorted by GDCM along
    the slice normal), in GDCM's order; [] when there are none."""
    series = []
    with quiet_libraries():       # GDCM warns "No Series were found" on stderr
        try:
            ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
        except RuntimeError:
            return []
        for sid in ids:
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, sid)
            if files:
                series.append((sid, tuple(files)))
    return series


def describe_series(sid, files):
    """What the header of a series' first file says: dict with uid, number, description, kernel,
    thickness (SliceThickness, mm as written), modality (upper case), image_type (list of
    upper-case values), slices (number of files).
    Missing tags are empty strings (an empty list for image_type)."""
    info = dict((key, "") for key, _ in TAGS)
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        with quiet_libraries():
            reader.ReadImageInformation()
        for key, tag in TAGS:
            if reader.HasMetaDataKey(tag):
                info[key] = " ".join(reader.GetMetaData(tag).split())
    except RuntimeError:
        pass
    info["uid"] = info["uid"] or sid
    info["modality"] = info["modality"].upper()
    info["image_type"] = [v.strip().upper() for v in info["image_type"].split("\\") if v.strip()]
    info["slices"] = len(files)
    return info


def is_volume(info):
    """Whether a described series can be the CT to measure: CT (or no modality), not a localizer,
    at least MIN_VOLUME_SLICES files (a multi-frame file is judged by its reader)."""
    return (info["modality"] in VOLUME_MODALITIES and "LOCALIZER" not in info["image_type"]
            and info["slices"] >= MIN_VOLUME_SLICES)


def _number(info):
    try:
        return int(float(info["number"]))
    except ValueError:
        return 1 << 30


def rank(info):
    """Sort key, smaller first: the module docstring's order."""
    return (info["modality"] not in VOLUME_MODALITIES, "LOCALIZER" in info["image_type"],
            info["image_type"][:1] == ["DERIVED"], -info["slices"], _number(info), info["uid"])


def label(info):
    """Short human name of a series: ``series 3 'Bone 0.6' (H70h, 301 slices)``."""
    name = "series %s" % (info["number"] or info["uid"])
    if info["description"]:
        name += " '%s'" % info["description"]
    what = [info["kernel"]] if info["kernel"] else []
    if info["modality"] not in VOLUME_MODALITIES:
        what.append(info["modality"])
    elif "LOCALIZER" in info["image_type"]:
        what.append("localizer")
    elif info["image_type"][:1] == ["DERIVED"]:
        what.append("derived")
    count = info["slices"]
    what.append("%d slices" % count if count >= MIN_VOLUME_SLICES else
                "%d file%s" % (count, "" if count == 1 else "s"))
    return "%s (%s)" % (name, ", ".join(what))


def choose_series(series, name):
    """(series id, files, info, warnings) of the series to measure among ``series`` (as
    :func:`dicom_series` gives them, at least one). One warning when there are several: the one
    measured, the other CT volumes left out, the rest skipped."""
    described = [(describe_series(sid, files), sid, files) for sid, files in series]
    described.sort(key=lambda item: rank(item[0]))
    info, sid, files = described[0]
    warnings = []
    if len(described) > 1:
        others = [item[0] for item in described[1:]]
        left = [o for o in others if is_volume(o)]
        skipped = [o for o in others if not is_volume(o)]
        text = "%s: folder holds %d DICOM series; measured %s" % (name, len(described),
                                                                  label(info))
        if left:
            text += "; other CT series not measured: %s (to measure one, give its files a " \
                    "folder of their own)" % ", ".join(label(o) for o in left)
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
