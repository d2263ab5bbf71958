"""The results folder of one case: written all or nothing, read back as the same result.

Files (docs/interfaces.md), each written only when its part is asked for:

- ``report``: report.json;
- ``labels``: labels.nii.gz (uint8, values 1-6 on the source grid, or on the joints' part of
  it for a very large scan: ``inference.joints_part.FULL_GRID_LABELS_MAX_VOXELS``);
- ``segmentation``: segmentation.seg.nrrd (the six segments, names and colours, for Slicer);
- ``meshes``: ``<side>_condyle.vtk`` (point data ``JointSpaceThickness_mm``),
  ``<side>_temporal_bone.vtk``, ``<side>_inflated.vtk``, ``<side>_negative_volume.vtk``;
  ``condyle_meshes``: only the condyle meshes (what the Slicer scene shows);
- ``figure``: report.png (matplotlib; where it is not installed, as in Slicer's own Python, the
  figure is left out with a warning in report.json and the rest is written).

Meshes are legacy binary VTK files in LPS mm. :func:`write_case` stages everything in a hidden
folder and moves it in only when all of it was written (:func:`staged_output`);
:func:`read_case` reads a folder back into a :class:`..case_result.CaseResult`. The background run
of the Slicer module hands its result to the panel through these two functions, so in process
and in the background give the same object (single files: :func:`.atomic.atomic_path`).
"""

import contextlib
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import tempfile
import time

from ..errors import InputError
from .atomic import atomic_path

REPORT, LABELS, SEGMENTATION, FIGURE = ("report.json", "labels.nii.gz", "segmentation.seg.nrrd",
                                       "report.png")
PARTS = ("report", "labels", "segmentation", "meshes", "condyle_meshes", "figure")
ALL_PARTS = ("report", "labels", "segmentation", "meshes", "figure")
SCENE_PARTS = ("report", "labels", "condyle_meshes")  # what the Slicer scene needs
NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))   # a full disk or quota
LOW_SPACE_BYTES = 64 * 1024 * 1024   # a write that failed with less free: the disk was full


def missing_folders(path):
    """The folders of ``path`` (itself and its parents) that do not exist yet, deepest first:
    what creating it makes, and what :func:`remove_empty` may take back."""
    path, missing = os.path.abspath(path), []
    while not os.path.exists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def remove_empty(folders):
    """Remove ``folders`` (deepest first) as long as each is empty; stop at the first that is
    not (or is gone, or cannot be removed)."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def check_writable(out_dir):
    """:func:`check_creatable`, then ``out_dir`` created if needed; InputError (one line) when
    it cannot be. Returns the absolute path."""
    out_dir = check_creatable(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise InputError("cannot create output folder %s: %s" % (out_dir, error.strerror or error))
    return out_dir


def check_creatable(out_dir):
    """InputError (one line) unless ``out_dir`` is a writable folder or could be created as one
    (its nearest existing parent is a writable folder); nothing is created, so that a refused
    input leaves no empty output folder behind. Returns the absolute path."""
    out_dir = os.path.abspath(out_dir)
    if os.path.isdir(out_dir):
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise InputError("output folder %s is not writable" % out_dir)
        return out_dir
    if os.path.lexists(out_dir):
        raise InputError("output path %s exists and is not a folder" % out_dir)
    parent = os.path.dirname(out_dir)
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InputError("cannot create output folder %s: %s is not a folder" % (out_dir, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError("cannot create output folder %s: %s is not writable" % (out_dir, parent))
    return out_dir


def check_replaceable(path):
    """InputError (one line) when a folder or other non-file of the name ``path`` is in the way
    of the file a run will write there, so that it is refused before anything is computed
    (a file that turns out immutable or locked is only found when replaced). Nothing is
    written."""
    if os.path.lexists(path) and not os.path.isfile(path):
        raise InputError("cannot write %s: a folder or other non-file of that name is in the way"
                         % path)


STAGE_PREFIX = ".nvseg-partial-"
STALE_STAGE_S = 24 * 3600.0    # a staging folder this long untouched was left by a killed run
MESH_FILE = re.compile(r"^(left|right)_(condyle|temporal_bone|inflated|negative_volume)\.vtk$")


def result_files(folder):
    """The names of the files of an earlier result in ``folder`` (report.json, the label map,
    .seg.nrrd, report.png, the meshes): what :func:`write_case` replaces. Other files are the
    user's and stay."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    ours = (REPORT, LABELS, SEGMENTATION, FIGURE)
    return sorted(n for n in names if n in ours or MESH_FILE.match(n))


def _stage_owner():
    """"<host>-<pid>-": the part of a staging folder's name after STAGE_PREFIX that names the
    process writing it (the host as a short hash of its name)."""
    host = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
    return "%s-%d-" % (host, os.getpid())


def _owner_gone(name):
    """Whether the staging folder ``name`` was made by a process of this host that has ended
    (POSIX only: on Windows a signal 0 would end the process it asks about)."""
    match = re.match(re.escape(STAGE_PREFIX) + r"([0-9a-f]{8})-(\d+)-", name)
    if os.name != "posix" or match is None or match.group(1) != _stage_owner()[:8]:
        return False
    try:
        os.kill(int(match.group(2)), 0)
    except ProcessLookupError:
        return True
    except OSError:   # alive, another user's
        return False
    return False


def _remove_stale_stages(out_dir):
    """Remove staging folders a killed run left in ``out_dir`` (SIGKILL, a power cut: no
    ``finally`` ran): those whose process on this host has ended (:func:`_owner_gone`), and
    those untouched for STALE_STAGE_S (a live run's stage is minutes old; a run on another
    machine sharing the folder is never touched by age alone before then)."""
    now = time.time()
    try:
        names = [n for n in os.listdir(out_dir) if n.startswith(STAGE_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(out_dir, name)
        try:
            if os.path.isdir(path) and (_owner_gone(name)
                                        or now - os.path.getmtime(path) > STALE_STAGE_S):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


@contextlib.contextmanager
def staged_output(out_dir, replaces=()):
    """Yield a hidden staging folder inside ``out_dir``; on success move its files into ``out_dir``.

    On any exception (Ctrl-C included) the staging folder is removed and nothing new appears in
    ``out_dir``; an ``out_dir`` made for this write goes too when it is left empty.
    Files are moved with :func:`os.replace` (atomic on one file system), so readers never see a
    partially written file. ``replaces``: names of earlier files in ``out_dir`` that the new ones
    replace: removed (report.json first) before anything is moved in, so no file of an earlier
    result is left beside the new one. report.json is moved in last: a folder holding a
    report.json holds all of its result, even after an interruption while moving.
    """
    made = not os.path.isdir(out_dir)
    out_dir = check_writable(out_dir)
    _remove_stale_stages(out_dir)
    try:
        stage = tempfile.mkdtemp(prefix=STAGE_PREFIX + _stage_owner(), dir=out_dir)
    except OSError as error:
        raise InputError("output folder %s is not writable: %s" % (out_dir, error.strerror or error))
    done = False
    try:
        yield stage
        moves = []
        for root, _dirs, files in os.walk(stage):
            rel = os.path.relpath(root, stage)
            target_root = out_dir if rel == "." else os.path.join(out_dir, rel)
            os.makedirs(target_root, exist_ok=True)
            moves.extend((os.path.join(root, n), os.path.join(target_root, n)) for n in files)
        for name in sorted(replaces, key=lambda n: n != REPORT):
            path = os.path.join(out_dir, name)
            if os.path.isfile(path):
                os.remove(path)
        for source, target in sorted(moves, key=lambda m: os.path.basename(m[1]) == REPORT):
            os.replace(source, target)
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not done:   # a folder made for this write, left empty by its failure or Ctrl-C
            try:
                os.rmdir(out_dir)
            except OSError:
                pass


def write_json(data, path):
    """Indented JSON (trailing newline), written atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
    return os.path.abspath(path)


def check_progress_file(path):
    """InputError unless ``path`` can be appended to (created empty when missing): checked
    before any case runs, so a wrong path costs no computed case."""
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise InputError("cannot write the progress file %s: %s"
                         % (path, error.strerror or error))


def append_progress(path, record):
    """Append one JSON line to a progress file, flushed at once so a poller sees it whole."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()


def no_space(error):
    """Whether ``error`` (or what caused it) is a full disk or quota (errno ENOSPC, EDQUOT)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return True
        error = error.__cause__ or error.__context__
    return False


def _low_space(folder):
    """Whether the file system of ``folder`` (or its nearest existing parent) has less than
    LOW_SPACE_BYTES free (False when that cannot be read)."""
    folder = os.path.abspath(folder)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


def write_mesh(poly, path):
    """Write a vtkPolyData (LPS mm, point data kept) as a binary legacy .vtk file; OSError
    (errno ENOSPC on a full disk) when it cannot, VTK's own message kept off stderr."""
    from vtkmodules.vtkCommonMisc import vtkErrorCode
    from vtkmodules.vtkIOLegacy import vtkPolyDataWriter

    from .quiet import quiet_libraries

    writer = vtkPolyDataWriter()
    writer.SetFileName(path)
    writer.SetInputData(poly)
    writer.SetFileTypeToBinary()
    with quiet_libraries():
        written = writer.Write()
    if writer.GetErrorCode() == vtkErrorCode.OutOfDiskSpaceError:
        raise OSError(errno.ENOSPC, "no space left on device", path)
    if not written:
        raise OSError("could not write %s" % path)


def read_mesh(path):
    """vtkPolyData of a legacy .vtk mesh file (LPS mm, point data kept)."""
    from vtkmodules.vtkCommonDataModel import vtkPolyData
    from vtkmodules.vtkIOLegacy import vtkPolyDataReader

    reader = vtkPolyDataReader()
    reader.SetFileName(path)
    reader.ReadAllScalarsOn()
    reader.ReadAllVectorsOn()
    reader.ReadAllNormalsOn()
    reader.Update()
    mesh = vtkPolyData()
    mesh.DeepCopy(reader.GetOutput())
    return mesh


def write_case(result, folder, parts=ALL_PARTS, case=None):
    """Write the asked ``parts`` of a :class:`..case_result.CaseResult` into ``folder``, all or nothing.

    The time spent writing is added to ``result.report["timings_s"]`` as ``write`` (and to
    ``total``) before report.json is written. ``case``: the name shown on report.png. A write
    that fails on a full disk raises OSError with errno ENOSPC (:func:`no_space`), whichever
    library wrote (ITK's and matplotlib's writers give no errno).
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError("unknown result parts %s; known: %s" % (unknown, ", ".join(PARTS)))
    try:
        return _write_parts(result, folder, parts, case)
    except Exception as error:
        if not no_space(error) and _low_space(folder):
            raise OSError(errno.ENOSPC, "no space left on device", folder) from error
        raise


def _write_parts(result, folder, parts, case):
    from .segmentation_files import write_label_image, write_segmentation_nrrd

    t0 = time.perf_counter()
    with staged_output(folder, replaces=result_files(folder)) as stage:
        if "labels" in parts:
            write_label_image(result.labels, os.path.join(stage, LABELS))
        if "segmentation" in parts:
            write_segmentation_nrrd(result.labels, os.path.join(stage, SEGMENTATION))
        for side, meshes in sorted(result.meshes.items()):
            for name, poly in sorted(meshes.items()):
                if "meshes" in parts or ("condyle_meshes" in parts and name == "condyle"):
                    write_mesh(poly, os.path.join(stage, "%s_%s.vtk" % (side, name)))
        if "figure" in parts and _have_matplotlib(result.report):
            from ..report.figure import render_report_figure   # without a CT: the label map

            render_report_figure(os.path.join(stage, FIGURE), result.ct, result.labels,
                                 result.report, result.meshes, case)
        timings = result.report.setdefault("timings_s", {})
        timings["write"] = time.perf_counter() - t0
        timings["total"] = timings.get("total", 0.0) + timings["write"]
        if "report" in parts:
            write_json(result.report, os.path.join(stage, REPORT))
    return folder


def _have_matplotlib(report):
    """Whether report.png can be drawn; if not, says so in the report's warnings."""
    if importlib.util.find_spec("matplotlib") is not None:
        return True
    report.setdefault("warnings", []).append(
        "report.png not written: matplotlib is not installed in this Python")
    return False


def read_case(folder):
    """The :class:`..case_result.CaseResult` of a results folder: report, labels and the meshes that
    were written ({side: {name: vtkPolyData}}); InputError when report.json or labels are absent."""
    import SimpleITK as sitk

    from ..labels import SIDES
    from ..case_result import CaseResult

    report_path, labels_path = os.path.join(folder, REPORT), os.path.join(folder, LABELS)
    for path in (report_path, labels_path):
        if not os.path.isfile(path):
            raise InputError("results folder %s lacks %s" % (folder, os.path.basename(path)))
    with open(report_path) as handle:
        report = json.load(handle)
    labels = sitk.ReadImage(labels_path)
    meshes = {}
    for side in SIDES:
        for name in ("condyle", "temporal_bone", "inflated", "negative_volume"):
            path = os.path.join(folder, "%s_%s.vtk" % (side, name))
            if os.path.isfile(path):
                meshes.setdefault(side, {})[name] = read_mesh(path)
    return CaseResult(report, labels, meshes)
