"""Static checks that the Slicer-side code names only what Slicer has: every slicer.util function
and MRML class the module and the Lib name exists in slicer-core, and every VTK / MRML-style
method (CamelCase) the Slicer-side code calls exists on some slicer-core, VTK or SimpleITK
class. Each scan is also shown to flag a name that does not exist."""

import ast
import os
import re

import pytest

from module_sources import LIB_DIR, MODULE_DIR, MODULE_FILE, SLICER_SIDE_LIB
from module_sources import lib_files as _lib_files
from module_sources import read as _read


APPLICATION_ONLY = {"app", "mrmlScene", "modules", "ScriptedLoadableModule",
                    "parameterNodeWrapper", "i18n", "qMRMLNodeComboBox", "qSlicerWidget",
                    "moduleNames", "testing", "cli", "selftests"}


def _slicer_references(source):
    """Dotted names after `slicer.` plus `from slicer import X` and MRML class strings."""
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = ast.unparse(node)
            if dotted.startswith("slicer.") and re.match(r"^[\w.]+$", dotted):
                names.add(dotted[len("slicer."):])
        elif isinstance(node, ast.ImportFrom) and node.module == "slicer":
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slicer."):
            prefix = node.module[len("slicer."):]
            names |= {prefix + "." + a.name for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names |= set(re.findall(r"^(vtkMRML\w+)$", node.value))
    return names


def _unknown_slicer_names(sources):
    """(names not in slicer-core, number of names checked) over the given source texts."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    unknown, checked = [], 0
    for label, source in sources:
        for dotted in sorted(_slicer_references(source)):
            parts = dotted.split(".")
            if parts[0] in APPLICATION_ONLY or (parts[0] == "util" and len(parts) > 1
                                                and parts[1] in APPLICATION_ONLY):
                continue
            target = slicer
            for part in parts:
                if not hasattr(target, part):
                    unknown.append("%s: slicer.%s" % (label, dotted))
                    break
                target = getattr(target, part)
            checked += 1
    return unknown, checked


def test_slicer_names_exist_in_slicer_core():
    paths = [MODULE_FILE] + [os.path.join(MODULE_DIR, f) for f in _lib_files()]
    unknown, checked = _unknown_slicer_names([(os.path.basename(p), _read(p)) for p in paths])
    assert checked > 20, "too few slicer names found (%d): is the scan broken?" % checked
    assert unknown == [], unknown


def test_slicer_name_scan_flags_unknown_names():
    source = ("import slicer\nfrom slicer.util import noSuchHelper\nslicer.util.notAThing()\n"
              "slicer.vtkSegmentation.NO_SUCH_MODE\nx = 'vtkMRMLNoSuchNode'\n")
    unknown, _checked = _unknown_slicer_names([("snippet", source)])
    assert sorted(unknown) == sorted(["snippet: slicer.util.noSuchHelper",
                                      "snippet: slicer.util.notAThing",
                                      "snippet: slicer.vtkSegmentation.NO_SUCH_MODE",
                                      "snippet: slicer.vtkMRMLNoSuchNode"])


# ----------------------------------------------------------------------------- methods called
MODULE_ALIASES = {"slicer", "vtk", "qt", "ctk", "np", "numpy", "sitk", "os", "sys", "json",
                  "numpy_support", "math", "time", "shutil", "subprocess", "tempfile", "signal",
                  "logging", "re", "functools", "importlib"}


def _imported_modules(tree):
    """Names a file binds to modules: ``import a.b as c``, ``from . import x``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level and not node.module:
            names |= {a.asname or a.name for a in node.names}
    return names


CORE_VTK_CLASSES = ("vtkPolyData", "vtkImageData", "vtkPointData", "vtkCellData", "vtkPoints",
                    "vtkDataArray", "vtkStringArray", "vtkTable", "vtkMatrix4x4", "vtkTransform",
                    "vtkAlgorithm", "vtkCollection")


def _camel_calls(source):
    """{method name: first line} of calls ``<expr>.Name(`` with a CamelCase name (the VTK, MRML
    and SimpleITK convention), on anything but a module."""
    tree = ast.parse(source)
    modules = MODULE_ALIASES | _imported_modules(tree)
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, receiver = node.func.attr, node.func.value
            if not re.match(r"[A-Z][a-z]", name):
                continue
            if isinstance(receiver, ast.Name) and receiver.id in modules:
                continue
            found.setdefault(name, node.lineno)
    return found


def _known_methods(sources):
    """Method names of every slicer-core class, of the VTK classes the sources name, and of
    SimpleITK images."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    import SimpleITK as sitk
    import vtk

    known = set(dir(sitk.Image))
    for name in CORE_VTK_CLASSES:  # reached through other objects, e.g. GetPointData()
        known |= set(dir(getattr(vtk, name)))
    for name in dir(slicer):
        value = getattr(slicer, name, None)
        if isinstance(value, type):
            known |= set(dir(value))
    for source in sources:
        for name in set(re.findall(r"\bvtk\.(vtk\w+)", source)):
            known |= set(dir(getattr(vtk, name, object)))
    return known


def _unknown_methods(named_sources):
    known = _known_methods([source for _label, source in named_sources])
    unknown = []
    for label, source in named_sources:
        for name, line in sorted(_camel_calls(source).items()):
            if name not in known:
                unknown.append("%s:%d: .%s()" % (label, line, name))
    return unknown


def test_mrml_methods_called_exist_in_slicer_core():
    paths = [MODULE_FILE] + [os.path.join(LIB_DIR, f) for f in SLICER_SIDE_LIB]
    named = [(os.path.basename(p), _read(p)) for p in paths]
    assert sum(len(_camel_calls(source)) for _label, source in named) > 80
    assert _unknown_methods(named) == []


def test_method_scan_flags_unknown_methods():
    source = ("import vtk\nnode.SetAndObserveTransformNodeID(None)\n"
              "display.SetSegmentOpacity3d('a', 1)\nm = vtk.vtkMatrix4x4()\nm.Invert()\n"
              "m.InvertAll()\nsitk.WriteImage(x, 'y')\n")
    assert sorted(_unknown_methods([("snippet", source)])) == [
        "snippet:3: .SetSegmentOpacity3d()", "snippet:6: .InvertAll()"]
