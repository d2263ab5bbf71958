"""Static checks of the Slicer module shell: what can be verified without the Slicer application.

- the module file and the Lib's Slicer-side files parse with Python 3.9 grammar;
- the module file imports nothing heavy at top level;
- every widget the Widget code touches, and every SlicerParameterName, exists in the .ui with a
  class that fits its name / the parameter's type (parameterNodeWrapper's GUI connectors);
- every .py file of NegativeVolumeSegmentationLib/ is listed in the module CMakeLists, the
  extension CMakeLists has the required parts, and both configure with CMake (stub Slicer);
- every slicer.util function and MRML class the module and the Lib name exists in slicer-core,
  and every VTK / MRML-style method (CamelCase) the Slicer-side code calls exists on some
  slicer-core, VTK or SimpleITK class;
- torch is installed only on request (PyTorchUtils, or pip after a confirmation), the panel
  follows the background run with a qt.QTimer, and the self-test runs the checks pytest runs.
"""

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_DIR = os.path.join(REPO, "NegativeVolumeSegmentation")
MODULE_FILE = os.path.join(MODULE_DIR, "NegativeVolumeSegmentation.py")
UI_FILE = os.path.join(MODULE_DIR, "Resources", "UI", "NegativeVolumeSegmentation.ui")
LIB_DIR = os.path.join(MODULE_DIR, "NegativeVolumeSegmentationLib")
SELFTEST_DIR = os.path.join(MODULE_DIR, "NegativeVolumeSegmentationSelfTest")
SELFTEST_CHECK_FILES = ("checks.py", "common.py", "bridge_checks.py", "measure_checks.py",
                        "pipeline_checks.py", "background_checks.py")
SLICER_SIDE_LIB = ("scene/mrml_bridge.py", "scene/logic.py", "scene/background.py",
                   "scene/torch_probe.py", "scene/process_tree.py") + tuple(
    "../NegativeVolumeSegmentationSelfTest/" + name for name in SELFTEST_CHECK_FILES)
SELFTEST_PYTEST_FILES = ("scene/test_mrml_bridge.py", "scene/test_slicer_pipeline.py")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _lib_files():
    found = []
    for root, dirs, files in list(os.walk(LIB_DIR)) + list(os.walk(SELFTEST_DIR)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.relpath(os.path.join(root, f), MODULE_DIR).replace(os.sep, "/")
                  for f in files if f.endswith(".py")]
    return sorted(found)


def py39_problems(source):
    """Constructs Python 3.9 rejects: grammar (ast feature_version), `X | Y` annotations,
    parenthesised multi-item `with`. Returns a list of one-line descriptions."""
    try:
        tree = ast.parse(source, feature_version=(3, 9))
    except SyntaxError as error:
        return ["syntax (3.9): %s at line %s" % (error.msg, error.lineno)]
    problems = []
    lines = source.splitlines()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [a.annotation for a in args.args + args.kwonlyargs + args.posonlyargs]
            annotations += [args.vararg.annotation if args.vararg else None,
                            args.kwarg.annotation if args.kwarg else None, node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is None:
                continue
            for sub in ast.walk(annotation):
                if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
                    problems.append("`X | Y` annotation at line %d" % sub.lineno)
        if isinstance(node, ast.With) and len(node.items) > 1:
            line = lines[node.lineno - 1][node.col_offset:]
            if re.match(r"with\s*\(", line) and not re.match(r"with\s*\([^()]*\)\s*(as|,)", line):
                problems.append("parenthesised multi-item `with` at line %d" % node.lineno)
    return problems


@pytest.mark.parametrize("path", [MODULE_FILE] + [os.path.join(LIB_DIR, f)
                                                  for f in SLICER_SIDE_LIB])
def test_parses_on_python39(path):
    assert py39_problems(_read(path)) == []


def test_py39_checker_catches_newer_syntax():
    assert py39_problems("match x:\n    case 1:\n        pass\n")
    assert py39_problems("def f(a: int | None) -> None:\n    pass\n")
    assert py39_problems("x: int | str = 1\n")
    assert py39_problems("with (open('a') as f, open('b') as g):\n    pass\n")
    assert py39_problems("with open('a') as f, open('b') as g:\n    pass\n") == []


ALLOWED_TOP_LEVEL = {"slicer", "vtk", "qt", "ctk", "numpy"}
# the options (defaults, allowed values) are the one light library module the parameter node
# reads at class definition; it imports the standard library only (checked below)
LIGHT_LIBRARY_MODULES = {"NegativeVolumeSegmentationLib.options"}


def _top_level_imports(tree):
    names = []
    for node in tree.body:
        for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(sub, ast.Import):
                names += [a.name.split(".")[0] for a in sub.names]
            elif isinstance(sub, ast.ImportFrom) and sub.level == 0:
                if sub.module not in LIGHT_LIBRARY_MODULES:
                    names.append(sub.module.split(".")[0])
    return names


def test_module_top_level_imports_are_light():
    stdlib = set(getattr(sys, "stdlib_module_names", ())) or {"logging", "os", "typing", "sys"}
    imported = _top_level_imports(ast.parse(_read(MODULE_FILE)))
    heavy = [n for n in imported if n not in ALLOWED_TOP_LEVEL and n not in stdlib]
    assert heavy == [], "module file imports at top level: %s" % heavy
    assert "torch" not in imported
    for name in LIGHT_LIBRARY_MODULES:  # light: only the standard library and our errors module
        path = os.path.join(MODULE_DIR, *name.split(".")) + ".py"
        tree = ast.parse(_read(path))
        outside = [n for n in _top_level_imports(tree) if n not in stdlib]
        relative = [node.module for node in tree.body
                    if isinstance(node, ast.ImportFrom) and node.level]
        assert outside == [] and relative == ["errors"], (name, outside, relative)


def test_slicer_side_lib_is_qt_free():
    for name in SLICER_SIDE_LIB:
        tree = ast.parse(_read(os.path.join(LIB_DIR, name)))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"qt", "ctk", "torch"}, (name, imported & {"qt", "ctk", "torch"})


def _classes(tree):
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _base_names(cls):
    return [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in cls.bases]


def _parent_assignments(cls):
    """{"title": value, ...} of `self.parent.<x> = <literal>` in the module's __init__."""
    values = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self.parent":
                try:
                    values[target.attr] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.attr] = None
    return values


def test_module_classes_and_texts():
    tree = ast.parse(_read(MODULE_FILE))
    classes = _classes(tree)
    expected = {
        "NegativeVolumeSegmentation": ["ScriptedLoadableModule"],
        "NegativeVolumeSegmentationWidget": ["ScriptedLoadableModuleWidget",
                                             "VTKObservationMixin"],
        "NegativeVolumeSegmentationLogic": ["ScriptedLoadableModuleLogic"],
        "NegativeVolumeSegmentationTest": ["ScriptedLoadableModuleTest"],
    }
    for name, bases in expected.items():
        assert name in classes, name
        assert _base_names(classes[name]) == bases, (name, _base_names(classes[name]))
    wrapper = classes["NegativeVolumeSegmentationParameterNode"]
    assert [ast.unparse(d) for d in wrapper.decorator_list] == ["parameterNodeWrapper"]
    texts = _parent_assignments(classes["NegativeVolumeSegmentation"])
    assert texts["title"] == "Negative Volume Segmentation"
    assert texts["categories"] == ["Segmentation"]
    assert texts["contributors"]
    assert "negative volume" in texts["helpText"].lower() and "mm³" in texts["helpText"]
    assert "Belikova" in texts["acknowledgementText"]
    assert "16292" in texts["acknowledgementText"]
    assert "2021" in texts["acknowledgementText"]


def test_slicer_test_runs_the_same_checks_as_pytest():
    """The module's Test runs slicer_selftest.ALL_CHECKS; pytest calls each of them, the
    whole-pipeline and background-run checks included."""
    from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest

    module_source = _read(MODULE_FILE)
    assert "slicer_selftest.ALL_CHECKS" in module_source
    test_class = _classes(ast.parse(module_source))["NegativeVolumeSegmentationTest"]
    run_test = [n for n in test_class.body if isinstance(n, ast.FunctionDef)
                and n.name == "runTest"][0]
    assert "slicer_selftest.run_self_test" in _function_calls(run_test)
    pytest_source = "".join(_read(os.path.join(REPO, "Testing", name))
                            for name in SELFTEST_PYTEST_FILES)
    called = set(re.findall(r"slicer_selftest\.(check_\w+)\(", pytest_source))
    assert called == {check.__name__ for check in slicer_selftest.ALL_CHECKS}
    names = {check.__name__ for check in slicer_selftest.ALL_CHECKS}
    for needed in ("check_logic_on_head_phantom", "check_background_matches_in_process",
                   "check_background_cancel", "check_bad_input_changes_nothing"):
        assert needed in names, needed


def test_selftest_check_files_are_scanned_and_short():
    """Every checks file of the self-test package is in SELFTEST_CHECK_FILES (so the 3.9-syntax,
    Qt-free and method scans above cover it) and stays under 400 lines."""
    present = {name for name in os.listdir(SELFTEST_DIR) if name.endswith(".py")}
    assert present - {"__init__.py", "render.py", "offscreen.py"} == set(SELFTEST_CHECK_FILES)
    for name in SELFTEST_CHECK_FILES:
        lines = _read(os.path.join(SELFTEST_DIR, name)).count("\n")
        assert lines < 400, (name, lines)


# Slicer's naming convention: the name's ending says the widget class.
NAME_ENDINGS = (("CollapsibleButton", "ctkCollapsibleButton"), ("Button", "QPushButton"),
                ("Label", "QLabel"), ("progressBar", "QProgressBar"),
                ("Selector", "qMRMLNodeComboBox"), ("SliderWidget", "ctkSliderWidget"),
                ("ComboBox", "QComboBox"), ("CheckBox", "QCheckBox"))


def _expected_class(name):
    for ending, cls in NAME_ENDINGS:
        if name.endswith(ending):
            return cls
    return None


def _ui_widgets():
    root = ET.parse(UI_FILE).getroot()
    widgets = {}
    for widget in root.iter("widget"):
        parameter = None
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName" and prop.get("stdset") == "0":
                parameter = prop.find("string").text
        node_types = [s.text for s in widget.findall("property[@name='nodeTypes']/stringlist/string")]
        widgets[widget.get("name")] = (widget.get("class"), parameter, node_types)
    return widgets


def test_widget_names_used_by_the_code_exist_with_their_class():
    widgets = _ui_widgets()
    used = set(re.findall(r"self\.ui\.(\w+)", _read(MODULE_FILE)))
    assert used, "the Widget code touches no self.ui widget?"
    for name in sorted(used):
        assert name in widgets, "self.ui.%s is not in the .ui file" % name
        assert _expected_class(name) is not None, "no class convention for %s" % name
        assert widgets[name][0] == _expected_class(name), (name, widgets[name][0])


def _parameter_annotations():
    wrapper = _classes(ast.parse(_read(MODULE_FILE)))["NegativeVolumeSegmentationParameterNode"]
    return {n.target.id: ast.unparse(n.annotation) for n in wrapper.body
            if isinstance(n, ast.AnnAssign)}


def _fits(widget_class, annotation, node_types):
    """Whether parameterNodeWrapper's GUI connectors can bind this widget to this type."""
    if annotation == "bool":
        return widget_class in ("QCheckBox", "QPushButton")
    if annotation.startswith("Annotated[float"):
        bounded = "WithinRange" in annotation
        return widget_class == "QDoubleSpinBox" or (widget_class == "ctkSliderWidget" and bounded)
    if annotation.startswith("Annotated[str") and "Choice(" in annotation:
        return widget_class == "QComboBox"
    if annotation.startswith("vtkMRML"):
        return widget_class == "qMRMLNodeComboBox" and node_types == [annotation]
    return False


def test_parameter_names_in_ui_match_the_parameter_node():
    parameters = _parameter_annotations()
    bound = {}
    for name, (cls, parameter, node_types) in _ui_widgets().items():
        if parameter is None:
            continue
        assert parameter in parameters, "%s binds unknown parameter %r" % (name, parameter)
        assert _fits(cls, parameters[parameter], node_types), (name, cls, parameters[parameter])
        assert _expected_class(name) == cls, (name, cls)
        bound[parameter] = name
    assert sorted(bound) == sorted(parameters), "parameters without a widget: %s" % (
        sorted(set(parameters) - set(bound)))


def test_mode_choices_are_the_engines_modes():
    from NegativeVolumeSegmentationLib import options
    from NegativeVolumeSegmentationLib.engine import inflate

    annotation = _parameter_annotations()["mode"]
    assert re.search(r"Choice\(list\(MODES\)\)", annotation), annotation  # options.MODES
    assert tuple(inflate.MODES) == tuple(options.MODES)


def test_mrml_scene_connections_reach_every_node_selector():
    root = ET.parse(UI_FILE).getroot()
    receivers = {c.find("receiver").text for c in root.iter("connection")
                 if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)"}
    selectors = {n for n, (cls, _p, _t) in _ui_widgets().items() if cls == "qMRMLNodeComboBox"}
    assert selectors and selectors == receivers


def _cmake_list(text, variable):
    match = re.search(r"set\(%s\s+(.*?)\)" % variable, text, re.S)
    assert match, variable
    return match.group(1).split()


def test_every_lib_file_is_listed_in_the_module_cmakelists():
    text = _read(os.path.join(MODULE_DIR, "CMakeLists.txt"))
    listed = [s.replace("${MODULE_NAME}", "NegativeVolumeSegmentation")
              for s in _cmake_list(text, "MODULE_PYTHON_SCRIPTS")]
    assert listed[0] == "NegativeVolumeSegmentation.py"
    missing = sorted(set(_lib_files()) - set(listed))
    assert missing == [], "not in MODULE_PYTHON_SCRIPTS: %s" % missing
    assert listed[1:] == sorted(listed[1:]), "MODULE_PYTHON_SCRIPTS is not sorted"
    assert len(set(listed)) == len(listed), "MODULE_PYTHON_SCRIPTS lists a file twice"
    stale = [f for f in listed if not os.path.exists(os.path.join(MODULE_DIR, f))]
    assert stale == [], "listed but absent: %s" % stale
    resources = [s.replace("${MODULE_NAME}", "NegativeVolumeSegmentation")
                 for s in _cmake_list(text, "MODULE_PYTHON_RESOURCES")]
    for resource in resources:
        assert os.path.exists(os.path.join(MODULE_DIR, resource)), resource
    assert "WITH_GENERIC_TESTS" in text
    assert re.search(r"if\(BUILD_TESTING\)\s+(#.*\n\s*)*slicer_add_python_unittest\("
                     r"SCRIPT \$\{MODULE_NAME\}\.py\)", text)


def test_extension_cmakelists_has_the_required_parts():
    text = _read(os.path.join(REPO, "CMakeLists.txt"))
    assert re.search(r"project\(NegativeVolumeSegmentation\)", text)
    for variable in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL",
                     "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(r'set\(EXTENSION_%s "[^"]+"\)' % variable, text), variable
    assert re.search(r'set\(EXTENSION_DEPENDS "[^"]*PyTorch[^"]*"\)', text)
    order = ["find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
             "add_subdirectory(NegativeVolumeSegmentation)",
             "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"]
    positions = [text.find(item) for item in order]
    assert -1 not in positions and positions == sorted(positions), positions


STUB_SLICER = """set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR lib/qt-scripted-modules)
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR lib/qt-scripted-modules)
set(Slicer_FOUND TRUE)
"""
STUB_USE = """function(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(f ${MY_SCRIPTS} ${MY_RESOURCES})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${f})
      message(FATAL_ERROR "missing ${f}")
    endif()
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/scripts.txt "${MY_NAME};${MY_WITH_GENERIC_TESTS};${MY_SCRIPTS}")
endfunction()
function(slicer_add_python_unittest)
  cmake_parse_arguments(MY "" "SCRIPT" "" ${ARGN})
  file(WRITE ${CMAKE_BINARY_DIR}/unittest.txt "${MY_SCRIPT}")
endfunction()
"""


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmakelists_configure_against_a_stub_slicer(tmp_path, monkeypatch):
    stub = tmp_path / "slicer"
    stub.mkdir()
    (stub / "SlicerConfig.cmake").write_text(STUB_SLICER)
    (stub / "UseSlicer.cmake").write_text(STUB_USE)
    (stub / "Empty.cmake").write_text("")
    build = tmp_path / "build"
    # The extension builds no C++: the compiler checks of project() are skipped.
    result = subprocess.run(
        ["cmake", "-S", REPO, "-B", str(build), "-DSlicer_DIR=%s" % stub, "-DBUILD_TESTING=ON",
         "-DCMAKE_C_COMPILER_WORKS=1", "-DCMAKE_CXX_COMPILER_WORKS=1"],
        capture_output=True, text=True, timeout=120)
    if "could be found" in result.stderr and "COMPILER" in result.stderr:
        pytest.skip("no C/C++ compiler for CMake's project() here")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    name, generic, *scripts = (build / "scripts.txt").read_text().split(";")
    assert name == "NegativeVolumeSegmentation" and generic == "TRUE"
    assert set(_lib_files()) <= set(scripts)
    assert (build / "unittest.txt").read_text() == "NegativeVolumeSegmentation.py"
    # The bundled models land where models.model_dir_candidates() looks from the Lib as
    # Slicer places it (<qt-scripted-modules>/NegativeVolumeSegmentationLib/).
    from NegativeVolumeSegmentationLib.inference import models as pipeline

    scripted = build / "lib" / "qt-scripted-modules"
    models = scripted / "Resources" / "Models"
    for name in list(pipeline.MODEL_FILES.values()) + [pipeline.CHECKSUMS]:
        if (pathlib.Path(REPO) / "models" / name).exists():
            assert (models / name).is_file(), name
    monkeypatch.setattr(pipeline, "__file__",
                        str(scripted / "NegativeVolumeSegmentationLib" / "inference" / "models.py"))
    monkeypatch.delenv("NVSEG_MODEL_DIR", raising=False)
    assert str(models) in pipeline.model_dir_candidates()


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


def _function_calls(function):
    """Dotted names of the calls inside a function, in source order."""
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    return [ast.unparse(node.func) for node in calls]


def _widget_methods():
    widget = _classes(ast.parse(_read(MODULE_FILE)))["NegativeVolumeSegmentationWidget"]
    return {n.name: n for n in widget.body if isinstance(n, ast.FunctionDef)}


def test_torch_is_installed_only_on_request():
    """No install at import; inside the Widget, PyTorchUtils' installTorch(askConfirmation=True)
    when the extension is there, else pip only after confirmOkCancelDisplay."""
    tree = ast.parse(_read(MODULE_FILE))
    top_level = [node for node in tree.body
                 if not isinstance(node, (ast.ClassDef, ast.FunctionDef))]
    top_calls = [ast.unparse(n.func) for stmt in top_level for n in ast.walk(stmt)
                 if isinstance(n, ast.Call)]
    assert not [c for c in top_calls if "install" in c.lower()], top_calls
    installers = [(name, fn) for name, fn in _widget_methods().items()
                  if any("pip_install" in c or "installTorch" in c for c in _function_calls(fn))]
    assert [name for name, _fn in installers] == ["_ensureTorch"]
    calls = _function_calls(installers[0][1])
    assert any(c.endswith("installTorch") for c in calls)
    confirm = calls.index("slicer.util.confirmOkCancelDisplay")
    assert confirm < calls.index("slicer.util.pip_install")
    source = ast.unparse(installers[0][1])
    assert "askConfirmation=True" in source and "import PyTorchUtils" in source
    # torch.load(weights_only=...) needs PyTorch 1.13: the installer is told so
    assert "torchVersionRequirement=TORCH_REQUIREMENT" in source
    constants = {ast.unparse(n.targets[0]): n.value for n in tree.body
                 if isinstance(n, ast.Assign) and len(n.targets) == 1}
    assert ast.literal_eval(constants["TORCH_MINIMUM"]) == "1.13"
    assert ast.unparse(constants["TORCH_REQUIREMENT"]) == "'>=' + TORCH_MINIMUM"
    assert "_ensureTorch" in " ".join(_function_calls(_widget_methods()["onApplyButton"]))


def test_widget_follows_the_background_run_with_a_qtimer():
    methods = _widget_methods()
    setup = " ".join(_function_calls(methods["setup"]))
    assert "qt.QTimer" in setup and "self._timer.connect" in setup
    assert "'timeout()'" in ast.unparse(methods["setup"]) or '"timeout()"' in _read(MODULE_FILE)
    assert "startBackgroundRun" in " ".join(_function_calls(methods["onApplyButton"]))
    assert "run.poll" in " ".join(_function_calls(methods["_onTimer"]))
    assert "self._run.cancel" in " ".join(_function_calls(methods["_cancelRun"]))
    for name in ("onCancelButton", "cleanup", "onSceneStartClose"):
        assert "self._cancelRun" in " ".join(_function_calls(methods[name])), name
