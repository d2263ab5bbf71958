"""The library's shape, checked from its source: folders by role, no import cycles, inference free
of training, small files. Every import counts, those inside functions too (docs/architecture.md).
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_DIR = os.path.join(REPO, "NegativeVolumeSegmentation")
PACKAGE = "NegativeVolumeSegmentationLib"
LIB_DIR = os.path.join(MODULE_DIR, PACKAGE)
MAX_LINES = 400
MAX_ROOT_FILES = 12


def _modules():
    """{dotted module name: path} of every .py file of the library."""
    found = {}
    for root, dirs, files in os.walk(LIB_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, MODULE_DIR)[:-3].replace(os.sep, ".")
                found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return found


MODULES = _modules()


def _resolve(module, path, level, name):
    """Absolute dotted name of a relative import ``from <level dots><name>``."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    parts = package.split(".")
    if level > 1:
        parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def imports_of(module):
    """Library modules that ``module`` imports anywhere in its source (top level or in a
    function), as dotted names; ``from pkg import sub`` counts as importing ``pkg.sub`` when
    ``sub`` is a module, else ``pkg``."""
    path = MODULES[module]
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve(module, path, node.level, node.module) if node.level
                    else node.module or "")
            targets = [base + "." + alias.name if base + "." + alias.name in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]  # an attribute of a module
            if target in MODULES and target != module:
                found.add(target)
    return found


GRAPH = dict((module, imports_of(module)) for module in MODULES)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_function_level_imports_and_cycles():
    """The checker itself, on a graph and a module whose answer is known."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    # cli.run imports the pipeline inside run(): a function-level import must be seen
    assert PACKAGE + ".pipeline" in GRAPH[PACKAGE + ".cli.run"]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_inference_and_the_routes_never_import_training():
    training = PACKAGE + ".training"
    offenders = sorted("%s -> %s" % (m, t) for m, targets in GRAPH.items() for t in targets
                       if (t == training or t.startswith(training + "."))
                       and not (m == training or m.startswith(training + "."))
                       and m not in (PACKAGE + ".cli.train", PACKAGE + ".cli.evaluate"))
    assert offenders == []


@pytest.mark.parametrize("role", ["engine", "io", "report", "phantom", "networks"])
def test_lower_layers_do_not_import_upper_ones(role):
    """The data path runs one way: io, engine, report, phantom and networks know nothing of
    inference, the Slicer scene, the command line or training."""
    upper = [PACKAGE + "." + name for name in ("scene", "cli", "training", "inference")]
    offenders = []
    for module, targets in GRAPH.items():
        if not module.startswith(PACKAGE + "." + role):
            continue
        for target in targets:
            if any(target == u or target.startswith(u + ".") for u in upper):
                offenders.append("%s -> %s" % (module, target))
    assert offenders == []


def test_small_files_and_few_at_the_package_root():
    long = dict((m, n) for m, n in ((m, sum(1 for _ in open(p, encoding="utf-8")))
                                    for m, p in MODULES.items()) if n > MAX_LINES)
    assert long == {}
    root = sorted(f for f in os.listdir(LIB_DIR) if f.endswith(".py"))
    assert len(root) <= MAX_ROOT_FILES, root


def test_public_api_is_re_exported_lazily():
    """``import NegativeVolumeSegmentationLib`` imports no heavy module; the public names resolve."""
    import subprocess
    import sys

    code = ("import sys, NegativeVolumeSegmentationLib as N; "
            "print(sorted(m for m in ('torch', 'vtk', 'SimpleITK') if m in sys.modules)); "
            "print(N.run_case.__module__, N.load_models.__module__, "
            "N.measure_negative_volume.__module__, N.RunOptions.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=MODULE_DIR, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.strip().splitlines()
    assert first == "[]"
    assert second.split() == [PACKAGE + ".pipeline", PACKAGE + ".inference.models",
                              PACKAGE + ".engine.measure", PACKAGE + ".options"]
