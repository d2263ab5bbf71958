#!/usr/bin/env python3
"""Run the negative-volume engine under every VTK generation 3D Slicer ships (stdlib only).

Slicer 5.8 embeds Python 3.9, numpy 1.26.4, scipy 1.13.1, SimpleITK 2.4 and a VTK fork of the
9.2/9.3 era; later Slicers ship newer VTKs. This script builds (once, cached) one virtual
environment per VTK version under ``.envs/vtk-<version>/`` with exactly that set and nothing
else (no matplotlib, tqdm, pynrrd, slicerio, pyyaml: every package is installed ``--no-deps``),
runs ``python -m NegativeVolumeSegmentationLib.cli negative-volume LABELS -o OUT`` in each with
PYTHONPATH pointing at the library source (it is not installed there), and prints a table:
VTK version x side -> negative volume (mm^3), minimum joint space (mm), condyle voxel volume
(mm^3) and the enclosed volume of the smoothed condyle mesh (mm^3).

Usage::

    python3 scripts/engine_vtk_matrix.py                 # build what is missing, run phantom 100010
    python3 scripts/engine_vtk_matrix.py --build-only    # only build the environments
    python3 scripts/engine_vtk_matrix.py --labels L.nii.gz --json out.json

An environment counts as built when its ``nvseg-matrix.json`` stamp matches the requested
package set; a half-built one (no stamp) is removed and rebuilt, so reruns are idempotent.
Without ``--labels`` the true labels of ``nvseg phantom --seed 100010 --kind head --fov head``
are generated once with the main environment (``.venv``) into a temporary folder. The main
environment's own numbers are the first rows of the table.

If the ``negative-volume`` command cannot run in an environment because it imports a module
Slicer's package set lacks, the script says which, and measures with the engine alone
(``measure_negative_volume`` on the label map, ``--route engine``) so the VTK comparison still
stands; the table's route column tells which way each row was measured.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_PARENT = os.path.join(ROOT, "NegativeVolumeSegmentation")
ENVS = os.path.join(ROOT, ".envs")
MAIN_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")

# One of each VTK generation on PyPI with a cp39 wheel (Slicer 5.8 = VTK 9.2/9.3 fork era).
VTK_VERSIONS = ("9.2.6", "9.3.1", "9.4.2", "9.5.2")
# Slicer 5.8's Python package set (SuperBuild/External_python-*.cmake at the v5.8 tag).
BASE_PACKAGES = ("numpy==1.26.4", "scipy==1.13.1", "SimpleITK==2.4.1")
PYTHON_CANDIDATES = ("/root/.pyenv/versions/3.9.18/bin/python",)
DEFAULT_SEED = 100010
SIDES = ("left", "right")

# Run inside a matrix environment: enclosed volume (mm^3) of each written condyle mesh.
_MESH_VOLUME = r"""
import json, sys
from vtkmodules.vtkIOLegacy import vtkPolyDataReader
from vtkmodules.vtkFiltersCore import vtkMassProperties
out = {}
for side, path in zip(sys.argv[1::2], sys.argv[2::2]):
    reader = vtkPolyDataReader()
    reader.SetFileName(path)
    reader.Update()
    mass = vtkMassProperties()
    mass.SetInputData(reader.GetOutput())
    mass.Update()
    out[side] = mass.GetVolume()
print(json.dumps(out))
"""

# Run inside a matrix environment: the engine alone (measure_negative_volume on the label map),
# the same numbers as the CLI route without the CLI's imports.
_ENGINE = r"""
import json, sys
import SimpleITK as sitk
from vtkmodules.vtkFiltersCore import vtkMassProperties
from NegativeVolumeSegmentationLib.engine.measure import measure_negative_volume
result = measure_negative_volume(sitk.ReadImage(sys.argv[1]))
out = {}
for side in ("left", "right"):
    values = result.sides.get(side)
    if values is None:
        out[side] = None
        continue
    mass = vtkMassProperties()
    mass.SetInputData(result.meshes[side]["condyle"])
    mass.Update()
    out[side] = {"nv_mm3": values["negative_volume_mm3"],
                 "js_min_mm": values["joint_space_min_mm"],
                 "condyle_mm3": values["condyle_volume_mm3"],
                 "condyle_mesh_mm3": mass.GetVolume()}
print(json.dumps(out))
"""


def find_python39():
    """Path of a Python 3.9 interpreter (pyenv's 3.9.18 first), or exit with a message."""
    for path in PYTHON_CANDIDATES:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    try:
        found = subprocess.run(["pyenv", "which", "python3.9"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True).stdout.strip()
        if found and os.path.isfile(found):
            return found
    except OSError:
        pass
    found = shutil.which("python3.9")
    if found:
        return found
    sys.exit("engine_vtk_matrix: no Python 3.9 found (pyenv install 3.9.18)")


def env_dir(version):
    return os.path.join(ENVS, "vtk-" + version)


def env_python(version):
    return os.path.join(env_dir(version), "bin", "python")


def requirements(version):
    return list(BASE_PACKAGES) + ["vtk==" + version]


def stamp_path(version):
    return os.path.join(env_dir(version), "nvseg-matrix.json")


def is_built(version):
    """True when .envs/vtk-<version> holds exactly the requested package set (stamp matches)."""
    try:
        with open(stamp_path(version)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return False
    return stamp.get("requirements") == requirements(version) and os.path.isfile(
        env_python(version))


def _pip_env():
    env = dict(os.environ)
    env.pop("PIP_CONSTRAINT", None)  # exact pins below; a site cap must not bend them
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build_env(version, python39, log=print):
    """Create .envs/vtk-<version> (Python 3.9 + the pinned set, --no-deps); no-op when built."""
    if is_built(version):
        return False
    target = env_dir(version)
    if os.path.exists(target):
        shutil.rmtree(target)  # half-built (no stamp) or another package set: start over
    start = time.time()
    log("building %s ..." % os.path.relpath(target, ROOT))
    subprocess.check_call([python39, "-m", "venv", target])
    cmd = [env_python(version), "-m", "pip", "install", "--quiet", "--no-deps",
           "--only-binary", ":all:"] + requirements(version)
    subprocess.check_call(cmd, env=_pip_env())
    # Prove the set is what Slicer would have: nothing else importable that the engine might use.
    check = ("import sys, numpy, scipy, SimpleITK, vtkmodules.vtkCommonCore as c; "
             "print(sys.version.split()[0], numpy.__version__, scipy.__version__, "
             "SimpleITK.Version_VersionString(), c.vtkVersion.GetVTKVersion())")
    versions = subprocess.check_output([env_python(version), "-c", check],
                                       universal_newlines=True).split()
    stamp = {"requirements": requirements(version),
             "python": versions[0], "numpy": versions[1], "scipy": versions[2],
             "SimpleITK": versions[3], "vtk": versions[4],
             "built_s": round(time.time() - start, 1)}
    with open(stamp_path(version), "w") as f:
        json.dump(stamp, f, indent=1)
    log("  %s: Python %s, numpy %s, scipy %s, SimpleITK %s, VTK %s (%.0f s)"
        % (os.path.basename(target), versions[0], versions[1], versions[2], versions[3],
           versions[4], time.time() - start))
    return True


def make_phantom_labels(folder, seed=DEFAULT_SEED, python=MAIN_PYTHON):
    """Write ``nvseg phantom --kind head --fov head --seed SEED`` into ``folder`` with the main
    environment; returns the path of its true labels (labels.nii.gz)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = LIB_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.check_call([python, "-m", "NegativeVolumeSegmentationLib.cli", "phantom", folder,
                           "--seed", str(seed), "--kind", "head", "--fov", "head"], env=env,
                          stdout=subprocess.DEVNULL)
    return os.path.join(folder, "labels.nii.gz")


def _engine_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = LIB_PARENT
    env.pop("PYTHONHOME", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the 3.9 and main-env caches would churn each other
    return env


class CommandFailed(RuntimeError):
    """The CLI failed; ``missing_module`` names the module it could not import (or None)."""

    def __init__(self, message, missing_module=None):
        RuntimeError.__init__(self, message)
        self.missing_module = missing_module


def run_cli(python, labels, out_dir):
    """Run ``python -m NegativeVolumeSegmentationLib.cli negative-volume LABELS -o OUT_DIR``.

    Returns {side: numbers or None}; numbers per side: ``nv_mm3``, ``js_min_mm``,
    ``condyle_mm3`` (voxel count x voxel volume) and ``condyle_mesh_mm3`` (volume enclosed by the
    smoothed condyle mesh written as ``<side>_condyle.vtk``). Raises :class:`CommandFailed`.
    """
    env = _engine_env()
    env["NVSEG_DEBUG"] = "1"  # full traceback, to name a missing module
    proc = subprocess.run([python, "-m", "NegativeVolumeSegmentationLib.cli", "negative-volume",
                           labels, "-o", out_dir], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        missing = None
        for line in proc.stderr.splitlines():
            if "No module named" in line:
                missing = line.split("No module named", 1)[1].strip().strip("'\"")
        raise CommandFailed("%s negative-volume failed (exit %d):\n%s"
                            % (python, proc.returncode, proc.stderr[-3000:]), missing)
    with open(os.path.join(out_dir, "report.json")) as f:
        rep = json.load(f)
    meshes = []
    for side in SIDES:
        path = os.path.join(out_dir, "%s_condyle.vtk" % side)
        if os.path.isfile(path):
            meshes += [side, path]
    mesh_volume = {}
    if meshes:
        mesh_volume = json.loads(subprocess.check_output(
            [python, "-c", _MESH_VOLUME] + meshes, env=env, universal_newlines=True))
    out = {}
    for side in SIDES:
        values = rep.get(side)
        if values is None:
            out[side] = None
            continue
        out[side] = {"nv_mm3": values["negative_volume_mm3"],
                     "js_min_mm": values["joint_space_min_mm"],
                     "condyle_mm3": values["condyle_volume_mm3"],
                     "condyle_mesh_mm3": mesh_volume.get(side)}
    return out


def run_engine(python, labels):
    """The engine alone (``measure_negative_volume``) in ``python``: {side: numbers or None},
    the same numbers as :func:`run_cli`."""
    proc = subprocess.run([python, "-c", _ENGINE, labels], env=_engine_env(), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("%s: the engine failed (exit %d):\n%s"
                           % (python, proc.returncode, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(python, labels, out_dir, route="cli", log=print):
    """(numbers, route used): the CLI route, falling back to the engine route (with a notice)
    when the CLI cannot import a module that environment lacks."""
    if route == "engine":
        return run_engine(python, labels), "engine"
    try:
        return run_cli(python, labels, out_dir), "cli"
    except CommandFailed as error:
        if error.missing_module is None:
            raise
        log("notice: %s: `negative-volume` imports %r, which this environment (Slicer's package "
            "set) lacks; measured with the engine directly instead"
            % (os.path.relpath(python, ROOT), error.missing_module))
        return run_engine(python, labels), "engine"


def python_vtk_version(python):
    return subprocess.check_output(
        [python, "-c", "import vtkmodules.vtkCommonCore as c, sys; "
                       "print(c.vtkVersion.GetVTKVersion(), sys.version.split()[0])"],
        universal_newlines=True).split()


def _fmt(value, pattern):
    return "-" if value is None else pattern % value


def format_table(rows):
    """Text table of [(label, {side: numbers or None})]."""
    lines = ["%-32s %-5s %12s %10s %12s %14s" % ("environment (route)", "side", "NV mm3",
                                                 "JS min mm", "condyle mm3", "cond. mesh mm3")]
    for label, sides in rows:
        for side in SIDES:
            v = sides.get(side)
            if v is None:
                lines.append("%-32s %-5s %12s" % (label, side, "not measured"))
                continue
            lines.append("%-32s %-5s %12s %10s %12s %14s" % (
                label, side, _fmt(v["nv_mm3"], "%.1f"), _fmt(v["js_min_mm"], "%.2f"),
                _fmt(v["condyle_mm3"], "%.1f"), _fmt(v["condyle_mesh_mm3"], "%.1f")))
    return "\n".join(lines)


def built_versions(versions=VTK_VERSIONS):
    """The VTK versions whose matrix environment is built (for the tests)."""
    return [v for v in versions if is_built(v)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=list(VTK_VERSIONS),
                        help="VTK versions (default: %s)" % " ".join(VTK_VERSIONS))
    parser.add_argument("--labels", help="label map to measure (default: phantom 100010 truth)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="phantom seed when --labels is not given (default %(default)s)")
    parser.add_argument("--build-only", action="store_true", help="only build the environments")
    parser.add_argument("--no-build", action="store_true",
                        help="use only the environments already built")
    parser.add_argument("--no-main", action="store_true",
                        help="skip the main environment (.venv) row")
    parser.add_argument("--route", choices=("cli", "engine"), default="cli",
                        help="cli: `python -m NegativeVolumeSegmentationLib.cli negative-volume` "
                             "(falls back to engine when it needs a module the environment "
                             "lacks); engine: measure_negative_volume directly")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    start = time.time()
    versions = list(args.versions)
    if not args.no_build:
        python39 = find_python39()
        os.makedirs(ENVS, exist_ok=True)
        for version in versions:
            build_env(version, python39)
        print("environments ready in %.0f s" % (time.time() - start))
    versions = [v for v in versions if is_built(v)]
    if args.build_only:
        return 0

    tmp = tempfile.mkdtemp(prefix="nvseg-vtk-matrix-")
    try:
        labels = args.labels or make_phantom_labels(os.path.join(tmp, "phantom"), args.seed)
        rows, record = [], {"labels": os.path.abspath(labels), "results": {}}
        pythons = [] if args.no_main or not os.path.isfile(MAIN_PYTHON) else [("main", MAIN_PYTHON)]
        pythons += [("vtk-" + v, env_python(v)) for v in versions]
        for name, python in pythons:
            vtk_version, py_version = python_vtk_version(python)
            t0 = time.time()
            sides, route = measure(python, labels, os.path.join(tmp, name), args.route)
            label = "%s VTK %s py%s %s" % (name, vtk_version,
                                           ".".join(py_version.split(".")[:2]), route)
            rows.append((label, sides))
            record["results"][name] = {"vtk": vtk_version, "python": py_version, "sides": sides,
                                       "route": route,
                                       "seconds": round(time.time() - t0, 2)}
        print(format_table(rows))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(record, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("total %.0f s" % (time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
