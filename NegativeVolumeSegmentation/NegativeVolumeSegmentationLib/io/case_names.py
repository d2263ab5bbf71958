"""Names of a batch's cases, as their output folders in ``nvseg run``'s OUT_DIR are named, and
what makes two inputs the same one.

A name is the input's file name without its image extension, or its folder's name, made one safe
folder name; names that would collide (without regard to case: macOS and Windows file systems)
are told apart by the inputs' folders or file endings, the same whatever the inputs' order.
"""

import os

# File endings of supported image files (lower case; the longest match wins).
CT_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def image_extension(path):
    """The supported extension ``path`` ends with (lower case), or None."""
    lower = path.lower()
    for ext in CT_EXTENSIONS:
        if lower.endswith(ext):
            return ext
    return None


def case_name(path):
    """Case name for output folders: the file name without its image extension, or the folder
    name, made a safe folder name (:func:`_safe`).

    ``/data/p01.nii.gz`` -> ``p01``; ``/data/p02/`` (DICOM folder) -> ``p02``.
    """
    path = os.path.normpath(os.path.abspath(path))
    base = os.path.basename(path)
    ext = image_extension(base)
    if ext and not os.path.isdir(path):
        base = base[:-len(ext)] or base
    return _safe(base)


MAX_NAME_BYTES = 200   # a case's folder name at most (file systems allow 255 bytes)
LABEL_STEMS = ("label", "labels", "seg", "segmentation", "mask")   # not a CT, by its name


def _safe(name):
    """``name`` as one folder name inside the output folder: path separators, control
    characters (a newline) and bytes that are not UTF-8 (SimpleITK aborts the process on them) as
    ``_``, no leading dots (``..`` wrote a case into the output folder's parent, ``.`` into the
    output folder itself), never empty (then ``case``)."""
    name = "".join("_" if c in "/\\" or ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000
                   else c for c in name)
    return name.lstrip(".") or "case"


def _short(name, path):
    """``name`` cut to MAX_NAME_BYTES with a digest of ``path`` kept unique (a name qualified by
    a long folder name failed to be created after the case was computed)."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    import hashlib

    digest = hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()
    cut = name.encode("utf-8")[:MAX_NAME_BYTES - 9].decode("utf-8", "ignore")
    return "%s_%s" % (cut, digest[:8])


def _ending(path):
    """A file's image extension as a name part (``.nii.gz`` -> ``nii_gz``); '' for a folder."""
    ext = None if os.path.isdir(path) else image_extension(os.path.basename(path))
    return ext.strip(".").replace(".", "_") if ext else ""


def _folders(path):
    """The names of the folders holding ``path``, innermost first."""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)[:-1]
    return [p for p in reversed(parts) if p]


def _told_apart(names, paths):
    """Names for inputs that share ``names`` (all equal): prefixed with the fewest enclosing
    folders that tell them apart (``siteA/p01``, ``siteB/p01`` -> ``siteA_p01``, ``siteB_p01``;
    ``x/a/s/p01``, ``y/s/p01`` -> ``a_s_p01``, ``y_s_p01``), else (one folder) suffixed with
    their file endings (``b.nii.gz``, ``b.nrrd`` -> ``b_nii_gz``, ``b_nrrd``); else unchanged."""
    folders = [_folders(p) for p in paths]
    for depth in range(1, max(len(f) for f in folders) + 1):
        named = ["_".join(list(reversed(f[:depth])) + [n]) for f, n in zip(folders, names)]
        if len(set(n.lower() for n in named)) == len(named):
            return [_safe(n) for n in named]
    endings = [_ending(p) for p in paths]
    if len(set(endings)) == len(endings) and all(endings):
        return ["%s_%s" % (n, e) for n, e in zip(names, endings)]
    return list(names)


def case_names(paths, preferred=None, renamed=None):
    """Names of the cases ``paths`` (in order), unique without regard to case (macOS and Windows
    file systems) and the same whatever the inputs' order. Each is its :func:`case_name` (or
    ``preferred[path]``: a patient's folder for the one CT file in it); cases sharing one are
    told apart by their folders or file endings (:func:`_told_apart`); a name still shared (an
    input named as another's told-apart name) goes, by path, to the input named so plainly and
    the others get ``_2``, ``_3``, ... Before, the second ``b`` became ``b_2``, the name of
    another file. ``renamed``, a dict, receives {path: the name it shared} for each name changed
    here."""
    preferred = preferred or {}
    plain = [_safe(preferred[p]) if p in preferred else case_name(p) for p in paths]
    names = list(plain)
    groups = {}
    for index, name in enumerate(names):
        groups.setdefault(name.lower(), []).append(index)
    for members in groups.values():
        if len(members) > 1:
            apart = _told_apart([names[i] for i in members], [paths[i] for i in members])
            for index, name in zip(members, apart):
                names[index] = name
    names = [_short(n, p) for n, p in zip(names, paths)]
    order = sorted(range(len(paths)), key=lambda i: (names[i] != plain[i],
                                                     os.path.abspath(paths[i])))
    used, out = set(), [None] * len(paths)
    for index in order:
        name, number = names[index], 2
        while name.lower() in used:
            name, number = "%s_%d" % (names[index], number), number + 1
        used.add(name.lower())
        out[index] = name
        if renamed is not None and name != plain[index]:
            renamed[paths[index]] = plain[index]
    return out


def is_label_name(path):
    """Whether a file's name says it is a label map or segmentation, not a CT (``labels.nii.gz``,
    ``ct_seg.nrrd``, ``mask.mha``)."""
    stem = case_name(path).lower()
    return stem in LABEL_STEMS or any(stem.endswith(("_" + w, "-" + w)) for w in LABEL_STEMS)


def identity(path):
    """What makes two inputs the same: the file or folder itself (device and inode: a link, a
    hard link, a path spelt otherwise), else its absolute path (a file since removed)."""
    try:
        found = os.stat(path)
        return found.st_dev, found.st_ino
    except (OSError, TypeError, ValueError):
        return os.path.abspath(path) if path else None
