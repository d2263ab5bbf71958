"""Static checks of the Slicer module shell: what can be verified without the Slicer application.

- the module file and the Lib's Slicer-side files parse with Python 3.9 grammar;
- the module file imports nothing heavy at top level;
- every widget the Widget code touches, and every SlicerParameterName, exists in the .ui with a
  class that fits its name / the parameter's type (parameterNodeWrapper's GUI connectors);
- (the CMakeLists: test_slicer_cmake.py);
- (the names of Slicer's API the code uses: test_slicer_api_names.py);
- torch is installed only on request (PyTorchUtils, or pip after a confirmation), the panel
  follows the background run with a qt.QTimer, and the self-test runs the checks pytest runs.
"""

import ast
import os
import re
import sys
import xml.etree.ElementTree as ET

import pytest

from module_sources import (LIB_DIR, MODULE_DIR, MODULE_FILE, REPO,
                            SELFTEST_CHECK_FILES, SELFTEST_DIR, SELFTEST_PYTEST_FILES,
                            SLICER_SIDE_LIB, TORCH_INSTALL_FILE, UI_FILE)
from module_sources import read as _read


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


def test_slider_ranges_and_defaults_come_from_the_options_only():
    """One place for each default and range: the .ui's sliders carry neither (the parameter
    node's WithinRange sets their ends from options.SLIDERS, its default sets the value), and
    each slider range lies inside what the option accepts and holds its default."""
    from NegativeVolumeSegmentationLib.options import BY_NAME, SLIDERS

    parameters = _parameter_annotations()
    root = ET.parse(UI_FILE).getroot()
    sliders = [w for w in root.iter("widget") if w.get("class") == "ctkSliderWidget"]
    assert len(sliders) == 3
    for widget in sliders:
        kept = {p.get("name") for p in widget.findall("property")}
        assert not kept & {"minimum", "maximum", "value"}, (widget.get("name"), kept)
        bound = [p.find("string").text for p in widget.findall("property")
                 if p.get("name") == "SlicerParameterName"][0]
        found = re.search(r"WithinRange\(\*SLIDERS\[['\"](\w+)['\"]\]\)", parameters[bound])
        assert found, parameters[bound]
        option = BY_NAME[found.group(1)]
        low, high = SLIDERS[option.name]
        assert option.check(low) == low and option.check(high) == high and low < high
        assert low <= option.default <= high, option.name


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


def _function_calls(function):
    """Dotted names of the calls inside a function, in source order."""
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    return [ast.unparse(node.func) for node in calls]


def _widget_methods():
    widget = _classes(ast.parse(_read(MODULE_FILE)))["NegativeVolumeSegmentationWidget"]
    return {n.name: n for n in widget.body if isinstance(n, ast.FunctionDef)}


def test_torch_is_installed_only_on_request():
    """No install at import; when Apply needs it (the Widget's _ensureTorch ->
    scene/torch_install.ensure_torch), PyTorchUtils' installTorch(askConfirmation=True) when the
    extension is there, else pip only after confirmOkCancelDisplay."""
    for path in (MODULE_FILE, TORCH_INSTALL_FILE):
        tree = ast.parse(_read(path))
        top_level = [node for node in tree.body
                     if not isinstance(node, (ast.ClassDef, ast.FunctionDef))]
        top_calls = [ast.unparse(n.func) for stmt in top_level for n in ast.walk(stmt)
                     if isinstance(n, ast.Call)]
        assert not [c for c in top_calls if "install" in c.lower()], (path, top_calls)
    installers = [(name, fn) for name, fn in _widget_methods().items()
                  if any("pip_install" in c or "installTorch" in c or "ensure_torch" in c
                         for c in _function_calls(fn))]
    assert [name for name, _fn in installers] == ["_ensureTorch"]
    assert "ensure_torch" in _function_calls(installers[0][1])
    tree = ast.parse(_read(TORCH_INSTALL_FILE))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    installers = [name for name, fn in functions.items()
                  if any("pip_install" in c or "installTorch" in c for c in _function_calls(fn))]
    assert installers == ["ensure_torch"]
    calls = _function_calls(functions["ensure_torch"])
    assert any(c.endswith("installTorch") for c in calls)
    confirm = calls.index("slicer.util.confirmOkCancelDisplay")
    assert confirm < calls.index("slicer.util.pip_install")
    source = ast.unparse(functions["ensure_torch"])
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
