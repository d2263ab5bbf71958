"""Where the DICOM files of a case's folder lie, and which of them are one series.

A case's DICOM folder holds a series, a study's series in it, or a CD's or PACS export's DICOM /
patient / study / series tree (looked through down to SEARCH_DEPTH levels). Folders holding DICOM
are told by the first bytes of a few files (:func:`is_dicom_file`, :func:`dicom_folders`: cheap
enough for a cohort); GDCM groups each folder's files by SeriesInstanceUID and sorts them along
the slice normal (:func:`dicom_series`). A series exported into several folders, in parts or twice, is
made one again (:func:`merge_series`); one whose files have several geometries is split
(:func:`split_series`). Header texts reach messages and metadata cleaned (:func:`tag_text`).
Which series is measured is decided in :mod:`.dicom_series`. SimpleITK/GDCM only.
"""

import os
import struct
import unicodedata

import numpy as np
import SimpleITK as sitk

from .quiet import quiet_libraries

MAX_HEADERS_PER_FOLDER = 5        # files tried per folder for its StudyInstanceUID
SEARCH_DEPTH = 4                  # subfolders looked through for series: a CD or PACS export's
                                  # DICOM / patient / study / series tree
FILES_LOOKED_AT = 16              # files per folder checked for DICOM's first bytes
NOT_DICOM_NAMES = ("DICOMDIR", "THUMBS.DB", "DESKTOP.INI", "AUTORUN.INF", "README")
NOT_DICOM_ENDINGS = (".txt", ".xml", ".htm", ".html", ".pdf", ".jpg", ".jpeg", ".png", ".gif",
                     ".bmp", ".tif", ".tiff", ".exe", ".dll", ".inf", ".ini", ".db", ".json",
                     ".csv", ".log", ".md", ".zip", ".gz", ".nii", ".nrrd", ".nhdr", ".mha",
                     ".mhd", ".raw", ".vtk", ".stl")


def tag_text(value):
    """A header text as SimpleITK gives it, made printable: its bytes (SimpleITK hands those that
    are not UTF-8, e.g. the Latin-1 umlauts of an ISO_IR 100 description, as surrogate escapes)
    decoded as UTF-8, else Latin-1; control characters (ESC, NUL, ...) dropped, whitespace runs
    made one space."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = "".join(" " if c.isspace() else c for c in text
                   if c.isspace() or unicodedata.category(c)[0] != "C")
    return " ".join(text.split())


def _looked_at(name):
    """Whether a file name may be a DICOM file (not hidden, not a known other kind)."""
    return (not name.startswith(".") and name.upper() not in NOT_DICOM_NAMES
            and not name.lower().endswith(NOT_DICOM_ENDINGS))


def is_dicom_file(path):
    """True when ``path`` looks like a DICOM file: a Part 10 file ("DICM" at byte 128), or one
    written without the 132-byte preamble (older scanners' and some PACS exports' raw data sets,
    which GDCM reads): its first data element of the file meta (0002) or identifying (0008)
    group, little endian, with an explicit VR's two upper-case letters or an implicit VR's
    length under 64 KiB."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    if head[4:6].isalpha() and head[4:6].isupper():
        return True                                     # explicit VR
    return struct.unpack("<I", head[4:8])[0] < (1 << 16)  # implicit VR: the value's length


def dicom_reader(series=False):
    """A SimpleITK reader of DICOM files (``series``: of a series' files) through GDCM, whether or
    not they carry the Part 10 preamble (ITK's own choice of reader needs it)."""
    reader = sitk.ImageSeriesReader() if series else sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    return reader


def dicom_folders(folder, depth=SEARCH_DEPTH, limit=None):
    """Folders from ``folder`` itself down to ``depth`` levels below it that hold DICOM files,
    in sorted walk order (at most ``limit``); told by the first bytes (:func:`is_dicom_file`) of
    each folder's first FILES_LOOKED_AT files that may be DICOM (not a DICOMDIR, text, picture or
    image file), not by GDCM (cheap enough to look through a cohort). Unreadable folders are
    passed over."""
    found = []
    top = os.path.abspath(folder).rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(folder):
        level = os.path.abspath(root).rstrip(os.sep).count(os.sep) - top
        dirs[:] = [] if level >= depth else sorted(d for d in dirs if not d.startswith("."))
        visible = sorted(f for f in files if _looked_at(f))[:FILES_LOOKED_AT]
        if any(is_dicom_file(os.path.join(root, f)) for f in visible):
            found.append(root)
            if limit is not None and len(found) >= limit:
                break
    return found


def study_uids(folder):
    """StudyInstanceUIDs of the DICOM files in ``folder`` and below (:func:`dicom_folders`; per
    folder the first of its first FILES_LOOKED_AT files that may be DICOM to look like DICOM
    (:func:`is_dicom_file`) and have the tag, at most MAX_HEADERS_PER_FOLDER headers read)."""
    uids = set()
    reader = dicom_reader()
    for where in dicom_folders(folder):
        try:
            names = sorted(n for n in os.listdir(where) if _looked_at(n))[:FILES_LOOKED_AT]
        except OSError:
            continue
        paths = [p for p in (os.path.join(where, n) for n in names) if is_dicom_file(p)]
        for path in paths[:MAX_HEADERS_PER_FOLDER]:
            reader.SetFileName(path)
            try:
                with quiet_libraries():
                    reader.ReadImageInformation()
            except RuntimeError:
                continue
            uid = tag_text(reader.GetMetaData("0020|000d")) \
                if reader.HasMetaDataKey("0020|000d") else ""
            if uid:
                uids.add(uid)
                break
    return uids


def dicom_series(folder, below=False):
    """DICOM series in ``folder`` (GDCM: files without the Part 10 preamble too) and, with
    ``below``, in its subfolders that hold DICOM files (:func:`dicom_folders`): list of (series
    id, file names sorted by GDCM along the slice normal), folder by folder in GDCM's order; []
    when there are none."""
    series = []
    folders = [folder] + ([f for f in dicom_folders(folder)
                           if os.path.abspath(f) != os.path.abspath(folder)] if below else [])
    with quiet_libraries():       # GDCM warns "No Series were found" on stderr
        for where in folders:
            try:
                ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(where)
            except RuntimeError:
                continue
            for sid in ids:
                files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(where, sid)
                if files:
                    series.append((sid, tuple(files)))
    return series


def _header(reader, path):
    """(SOPInstanceUID, SeriesNumber, ImagePositionPatient or None, slice normal or None) of one
    file's header (positions LPS mm)."""
    reader.SetFileName(path)
    values = {}
    try:
        with quiet_libraries():
            reader.ReadImageInformation()
        for key, tag in (("sop", "0008|0018"), ("number", "0020|0011"),
                         ("position", "0020|0032"), ("orientation", "0020|0037")):
            values[key] = tag_text(reader.GetMetaData(tag)) if reader.HasMetaDataKey(tag) else ""
    except RuntimeError:
        return "", "", None, None
    vectors = []
    for key, count in (("position", 3), ("orientation", 6)):
        try:
            vector = np.array([float(v) for v in values[key].split("\\")])
        except ValueError:
            vector = None
        vectors.append(vector if vector is not None and vector.size == count else None)
    position, orientation = vectors
    normal = None if orientation is None else np.cross(orientation[:3], orientation[3:])
    return values["sop"], values["number"], position, normal


def merge_series(series, name, folder=None):
    """(series, warnings): ``series`` (as :func:`dicom_series` gives them) with the entries that
    share a SeriesInstanceUID (one series exported in parts into several folders, or twice) made
    one, in the place of the first: each file once (the same path, or the same SOPInstanceUID: a
    copy, left out), sorted by ImagePositionPatient along the slice normal as GDCM sorts a
    folder's (files without a position last); one warning per merged series naming its folders
    (relative to ``folder``). Reads the headers of those series' files only."""
    parts = {}
    for sid, files in series:
        parts.setdefault(sid, []).append(files)
    merged, warnings, reader = [], [], dicom_reader()
    for sid, files in series:
        if sid not in parts:
            continue
        groups = parts.pop(sid)
        if len(groups) == 1:
            merged.append((sid, files))
            continue
        paths, sops, kept, copies, number, normal = set(), set(), [], 0, "", None
        for path in (p for group in groups for p in group):
            real = os.path.realpath(path)
            if real in paths:
                continue
            paths.add(real)
            sop, file_number, position, file_normal = _header(reader, path)
            number = number or file_number
            if sop and sop in sops:
                copies += 1
                continue
            sops.add(sop)
            normal = file_normal if normal is None else normal
            kept.append((path, position))
        axis = normal if normal is not None and np.linalg.norm(normal) > 0 else np.zeros(3)
        kept.sort(key=lambda item: (0, float(item[1] @ axis)) if item[1] is not None else (1, 0))
        merged.append((sid, tuple(path for path, _position in kept)))
        where = [os.path.relpath(os.path.dirname(g[0]), folder) if folder else
                 os.path.dirname(g[0]) for g in groups]
        warnings.append("%s: DICOM series %s lies in %d folders (%s): read as one series of %d "
                        "files%s" % (name, number or sid, len(groups), ", ".join(where),
                                     len(kept), "; %d duplicate files, copies of the same "
                                     "SOPInstanceUID, left out" % copies if copies else ""))
    return merged, warnings


def split_series(sid, files):
    """The files of one series grouped by slice geometry (ImageOrientationPatient to 1e-3, rows
    and columns) and by whether ImageType says LOCALIZER, each group in GDCM's order: [(sid,
    files)] when all agree, else one entry per group, ``sid`` marked with the group's number.
    Some exports file the localizer (sagittal, or an axial one of the same size) or a reformat
    under the axial series' UID; such a series does not stack into one volume. Reads every
    file's header: used only when a series failed to read."""
    groups, reader = {}, dicom_reader()
    for path in files:
        reader.SetFileName(path)
        try:
            with quiet_libraries():
                reader.ReadImageInformation()
            key = (tuple(round(float(v), 3) for v in reader.GetMetaData("0020|0037").split("\\"))
                   if reader.HasMetaDataKey("0020|0037") else (), tuple(reader.GetSize()[:2]),
                   reader.HasMetaDataKey("0008|0008")
                   and "LOCALIZER" in reader.GetMetaData("0008|0008").upper())
        except (RuntimeError, ValueError):
            key = None
        groups.setdefault(key, []).append(path)
    if len(groups) < 2:
        return [(sid, tuple(files))]
    return [("%s#%d" % (sid, k + 1), tuple(group)) for k, group in enumerate(groups.values())]


def without_copies(files):
    """(files, copies): ``files`` with each SOPInstanceUID once, in their order (an export that
    wrote a slice twice into one folder, "IM0100 (1).dcm" beside "IM0100.dcm", or a file and its
    link), and how many were left out. Files without the UID are kept. Reads every file's header:
    used only when a series failed to read."""
    seen, kept, reader = set(), [], dicom_reader()
    for path in files:
        sop = _header(reader, path)[0]
        if sop and sop in seen:
            continue
        seen.add(sop)
        kept.append(path)
    return tuple(kept), len(files) - len(kept)
