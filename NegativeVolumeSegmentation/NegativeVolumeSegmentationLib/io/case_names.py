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


def _safe(name):
    """``name`` as one folder name inside the output folder: path separators and control
    characters (a newline) as ``_``, no leading dots (``..`` wrote a case into the output
    folder's parent, ``.`` into the output folder itself), never empty (then ``case``)."""
    name = "".join("_" if c in "/\\" or ord(c) < 32 or ord(c) == 127 else c for c in name)
    return name.lstrip(".") or "case"


def _ending(path):
    """A file's image extension as a name part (``.nii.gz`` -> ``nii_gz``); '' for a folder."""
    ext = None if os.path.isdir(path) else image_extension(os.path.basename(path))
    return ext.strip(".").replace(".", "_") if ext else ""


def case_names(paths):
    """Names of the cases ``paths`` (in order), unique without regard to case (macOS and Windows
    file systems). Each is its :func:`case_name`; cases sharing one are told apart, whatever the
    inputs' order, by their folders when those differ (``siteA/p01``, ``siteB/p01`` ->
    ``siteA_p01``, ``siteB_p01``; ``pat01/ct.nrrd`` -> ``pat01_ct``), else by their file endings
    (``b.nii.gz``, ``b.nrrd`` -> ``b_nii_gz``, ``b_nrrd``), else by both; a name still taken
    gets ``_2``, ``_3``, ... Before, the second ``b`` became ``b_2``, the name of another file."""
    names = [case_name(p) for p in paths]
    groups = {}
    for index, name in enumerate(names):
        groups.setdefault(name.lower(), []).append(index)
    for members in groups.values():
        if len(members) < 2:
            continue
        parents = [os.path.basename(os.path.dirname(os.path.normpath(os.path.abspath(paths[i]))))
                   for i in members]
        endings = [_ending(paths[i]) for i in members]
        by_folder = len(set(p.lower() for p in parents)) == len(members)
        by_ending = len(set(endings)) == len(members)
        for k, index in enumerate(members):
            name = names[index]
            if by_folder or not by_ending:
                name = _safe("%s_%s" % (parents[k], name))
            if not by_folder and endings[k]:
                name = "%s_%s" % (name, endings[k])
            names[index] = name
    out, used = [], set()
    for base in names:
        name, number = base, 2
        while name.lower() in used:
            name, number = "%s_%d" % (base, number), number + 1
        used.add(name.lower())
        out.append(name)
    return out


def identity(path):
    """What makes two inputs the same: the file or folder itself (device and inode: a link, a
    hard link, a path spelt otherwise), else its real path."""
    try:
        found = os.stat(path)
        return found.st_dev, found.st_ino
    except OSError:
        return os.path.realpath(path)
