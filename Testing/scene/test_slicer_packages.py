"""The Slicer routes import only what 3D Slicer ships (static check, no import executed).

Inside Slicer the module (panel and console: scene/, pipeline, inference/, engine/, io/) and the
background child (``python -m NegativeVolumeSegmentationLib.cli run`` / ``negative-volume``) run
in Slicer's own Python, whose packages are set by Slicer's SuperBuild
(``SuperBuild/External_python-*.cmake`` at the release tags v5.8.1 and v5.10.0; see
``scripts/slicer_twins.sh``). A pip venv hides a missing one (pip's vtk pulls matplotlib in), so
this test parses every module on those routes and fails on any import, top-level or inside a
function, of a package Slicer does not ship. Exceptions, each checked:

- torch (and the SlicerPyTorch extension's ``PyTorchUtils``): only where it is reached lazily; no
  module that loads with the module file, the console logic or the cli imports it at its top
  level, and nothing ``nvseg negative-volume`` imports (at any level) does (torch is installed
  on request in Slicer, and measuring existing segments must not need it);
- matplotlib: only in report/figure.py, only inside functions, and report/figure.py itself is
  imported by the routes only inside functions (it is reached only when a figure is asked for).

The routes are followed through the package's own imports (relative or absolute), so a module
added later is checked as soon as a route imports it. The dynamic counterpart is
Testing/twins/test_twins.py (the same routes run in Slicer-like environments).
"""

import ast
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_DIR = os.path.join(REPO, "NegativeVolumeSegmentation")
PACKAGE = "NegativeVolumeSegmentationLib"
PACKAGE_DIR = os.path.join(MODULE_DIR, PACKAGE)

# Third-party top-level names that Slicer 5.8.1 and 5.10.0 both ship (read from Slicer's source
# at those tags: External_python-numpy/-scipy/-requests-requirements/-pythonqt-requirements/
# -dicom-requirements/-extension-manager(-ssl)-requirements/-pip/-setuptools/-wheel.cmake,
# External_VTK.cmake, External_SimpleITK.cmake) and Slicer's own Python modules.
SLICER_BUNDLED = {
    "numpy", "scipy", "SimpleITK", "vtk", "vtkmodules",
    # requests stack, PythonQt requirements, DICOM, extension manager, packaging tools
    "requests", "certifi", "idna", "charset_normalizer", "urllib3", "packaging", "pyparsing",
    "six", "pydicom", "PIL", "retrying", "dicomweb_client", "chardet", "couchdb", "git",
    "gitdb", "smmap", "cryptography", "wrapt", "deprecated", "pycparser", "cffi", "nacl",
    "dateutil", "typing_extensions", "github", "pip", "setuptools", "pkg_resources", "wheel",
    # Slicer's own modules (application, MRML, Qt/CTK wrapping, bundled scripted modules)
    "slicer", "qt", "ctk", "mrml", "vtkITK", "vtkSegmentationCore", "vtkSlicerSegmentationsModuleLogicPython",
    "sitkUtils", "SampleData", "SegmentStatistics", "DICOMLib", "ScreenCapture",
}
LAZY_ONLY = {"torch", "PyTorchUtils"}          # installed on request, imported inside functions
FIGURE_ONLY = {"matplotlib"}                   # report/figure.py, inside functions
FIGURE_MODULE = PACKAGE + ".report.figure"

# The Slicer routes (the brief's list; options.py when present).
ROUTE_SEEDS = (
    ["scene.*", "pipeline", "inference.*", "engine.*", "io.*", "report.report_json", "labels",
     "errors", "options", "cli", "cli.run", "cli.negative_volume"])
# What loads eagerly: the module file, the console/panel logic (scene/), and the command line
# (cli/__init__ imports every sub-command module of COMMANDS to build its parser).
EAGER_SEEDS = ["scene.*", "cli", "cli.negative_volume", "cli.run"]
MODULE_FILE = os.path.join(MODULE_DIR, "NegativeVolumeSegmentation.py")


def _stdlib_names():
    names = getattr(sys, "stdlib_module_names", None)
    if names:
        return set(names) | set(sys.builtin_module_names)
    import sysconfig
    import pkgutil
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    found = set(sys.builtin_module_names)
    for info in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")]):
        found.add(info.name)
    return found


STDLIB = _stdlib_names() | {"__future__"}


def _module_path(name):
    """File of a package module (``PACKAGE.a.b``) or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = os.path.join(MODULE_DIR, *parts)
    if os.path.isdir(base) and os.path.isfile(os.path.join(base, "__init__.py")):
        return os.path.join(base, "__init__.py")
    if os.path.isfile(base + ".py"):
        return base + ".py"
    return None


def _expand(seeds):
    names = []
    for seed in seeds:
        if seed.endswith(".*"):
            folder = os.path.join(PACKAGE_DIR, *seed[:-2].split("."))
            names += sorted("%s.%s.%s" % (PACKAGE, seed[:-2], f[:-3]) if f != "__init__.py"
                            else "%s.%s" % (PACKAGE, seed[:-2])
                            for f in os.listdir(folder) if f.endswith(".py"))
        else:
            name = "%s.%s" % (PACKAGE, seed)
            if _module_path(name):
                names.append(name)
    return names


class Import(object):
    def __init__(self, target, top_level, line, internal, dispatch=False):
        self.target, self.top_level, self.line, self.internal = target, top_level, line, internal
        self.dispatch = dispatch  # cli's sub-command modules: imported for their parser only


def _parse_imports(name, path):
    """[Import] of a module: absolute targets; internal ones resolved to package modules."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    is_package = os.path.basename(path) == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []

    def add(target, top, line, dispatch=False):
        internal = target.split(".")[0] == PACKAGE
        found.append(Import(target, top, line, internal, dispatch))

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            inner_top = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, top, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module
                for alias in child.names:
                    sub = "%s.%s" % (module, alias.name)
                    add(sub if _module_path(sub) else module, top, child.lineno)
            visit(child, inner_top)

    visit(tree, True)
    if name == PACKAGE + ".cli":  # build_parser imports every sub-command module in COMMANDS
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMMANDS"
                                                    for t in node.targets):
                for element in node.value.elts:
                    add("%s.cli.%s" % (PACKAGE, element.value if hasattr(element, "value")
                                       else element.s), True, node.lineno, True)
    return found


_CACHE = {}


def imports_of(name):
    if name not in _CACHE:
        path = _module_path(name) if name != "<module file>" else MODULE_FILE
        _CACHE[name] = _parse_imports(name if name != "<module file>" else "NegativeVolumeSegmentation",
                                      path)
    return _CACHE[name]


def closure(seeds, top_level_only):
    """Modules reached from ``seeds`` through the package's own imports (and each one's parent
    packages, whose __init__ runs first). Following function-level imports too, the sub-command
    modules that cli imports only to build its parser are not followed (their run() is another
    command; their top level is checked through EAGER)."""
    seen, todo = [], list(seeds)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        parts = name.split(".")
        for n in range(1, len(parts)):
            parent = ".".join(parts[:n])
            if _module_path(parent) and parent not in seen:
                todo.append(parent)
        for item in imports_of(name):
            if item.dispatch and not top_level_only:
                continue
            if item.internal and (item.top_level or not top_level_only):
                if _module_path(item.target):
                    todo.append(item.target)
    return seen


def _top(target):
    return target.split(".")[0]


def _allowed(target):
    return _top(target) in STDLIB or _top(target) in SLICER_BUNDLED or _top(target) == PACKAGE


def _where(name, item):
    return "%s:%d imports %s%s" % (name, item.line, item.target,
                                   "" if item.top_level else " (in a function)")


ROUTE = closure(_expand(ROUTE_SEEDS), top_level_only=False)
EAGER = closure(["<module file>"] + _expand(EAGER_SEEDS), top_level_only=True) \
    if os.path.isfile(MODULE_FILE) else closure(_expand(EAGER_SEEDS), top_level_only=True)


def test_routes_are_found():
    """The walk really covers the routes (guards the walk itself)."""
    for name in ("scene.logic", "scene.background", "pipeline", "engine.inflate", "engine.measure",
                 "io.segmentation_files", "io.ct", "inference.device", "cli.run",
                 "cli.negative_volume", "report.report_json"):
        assert "%s.%s" % (PACKAGE, name) in ROUTE, name
    for name in ("scene.logic", "scene.mrml_bridge", "cli", "cli.negative_volume", "cli.run",
                 "cli.train", "cli.evaluate", "labels", "errors"):
        assert "%s.%s" % (PACKAGE, name) in EAGER, name
    assert FIGURE_MODULE in ROUTE                  # reached, lazily (checked below)
    assert PACKAGE + ".training.config" not in ROUTE


def test_route_imports_only_what_slicer_ships():
    bad = []
    for name in ROUTE:
        for item in imports_of(name):
            if _allowed(item.target) or _top(item.target) in LAZY_ONLY:
                continue
            if (_top(item.target) in FIGURE_ONLY and name == FIGURE_MODULE
                    and not item.top_level):
                continue
            bad.append(_where(name, item))
    assert not bad, "imports of packages 3D Slicer does not ship:\n" + "\n".join(bad)


def test_torch_is_never_imported_while_the_module_loads():
    """Module file, scene/, cli (+ its sub-command modules), negative-volume: torch-free at the
    top level, so the module loads and measures in a Slicer without PyTorch."""
    bad = ["%s (%s)" % (_where(name, item), "top level")
           for name in EAGER for item in imports_of(name)
           if item.top_level and (_top(item.target) in LAZY_ONLY | FIGURE_ONLY
                                  or not (_allowed(item.target)))]
    assert not bad, "\n".join(bad)


def test_negative_volume_route_never_needs_torch():
    """``nvseg negative-volume`` (the background run's "measure existing segments" route, and the
    console's measurement) runs in a Slicer without PyTorch: no module that its command module
    imports (at any level), nor anything those load at their top level, imports torch at its
    top level."""
    command = "%s.cli.negative_volume" % PACKAGE
    seeds = [command] + [item.target for item in imports_of(command)
                         if item.internal and _module_path(item.target)]
    route = closure(seeds, top_level_only=True)
    assert any(m.startswith(PACKAGE + ".engine.") or m == PACKAGE + ".pipeline"
               for m in route), route      # the walk reaches the measuring code
    bad = [_where(name, item) for name in route for item in imports_of(name)
           if item.top_level and _top(item.target) in LAZY_ONLY]
    # the chain: who brings a torch-importing module in
    needing = set(name for name in route for item in imports_of(name)
                  if item.top_level and _top(item.target) in LAZY_ONLY)
    changed = True
    while changed:
        changed = False
        for name in route:
            if name not in needing and any(item.top_level and item.target in needing
                                           for item in imports_of(name)):
                needing.add(name)
                changed = True
    chain = [_where(command, item) for item in imports_of(command) if item.target in needing]
    assert not bad, ("negative-volume needs torch:\n" + "\n".join(chain) + "\n... which "
                     "load at their top level:\n" + "\n".join(bad))


def test_figure_is_reached_only_when_asked_for():
    """matplotlib only inside report/figure.py's functions; report/figure.py imported by the
    routes only inside functions (when report.png is to be drawn)."""
    assert FIGURE_MODULE not in EAGER
    top = [_where(FIGURE_MODULE, item) for item in imports_of(FIGURE_MODULE)
           if _top(item.target) in FIGURE_ONLY and item.top_level]
    assert not top, top
    assert any(_top(item.target) == "matplotlib" for item in imports_of(FIGURE_MODULE))
    eager_importers = [_where(name, item) for name in ROUTE for item in imports_of(name)
                       if item.target == FIGURE_MODULE and item.top_level]
    assert not eager_importers, eager_importers


@pytest.mark.parametrize("source,expected", [
    ("import tqdm\n", ["tqdm"]),
    ("def f():\n    import nrrd\n", ["nrrd"]),
    ("def f():\n    from slicerio import read_segmentation\n", ["slicerio"]),
    ("import yaml, numpy\n", ["yaml"]),
    ("from matplotlib import pyplot\n", ["matplotlib"]),
    ("import os\nimport SimpleITK as sitk\nfrom vtkmodules.vtkCommonCore import vtkPoints\n", []),
])
def test_the_check_catches_foreign_imports(tmp_path, source, expected):
    """The same parser and rule on small sources: foreign packages are caught at any level."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = [item.target.split(".")[0] for item in _parse_imports(PACKAGE + ".probe", str(path))
             if not _allowed(item.target) and _top(item.target) not in LAZY_ONLY]
    assert found == expected
