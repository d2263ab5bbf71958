"""Where the Slicer module's sources are, for the static checks of this folder."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_DIR = os.path.join(REPO, "NegativeVolumeSegmentation")
MODULE_FILE = os.path.join(MODULE_DIR, "NegativeVolumeSegmentation.py")
UI_FILE = os.path.join(MODULE_DIR, "Resources", "UI", "NegativeVolumeSegmentation.ui")
LIB_DIR = os.path.join(MODULE_DIR, "NegativeVolumeSegmentationLib")
SELFTEST_DIR = os.path.join(MODULE_DIR, "NegativeVolumeSegmentationSelfTest")
SELFTEST_CHECK_FILES = ("checks.py", "common.py", "bridge_checks.py", "measure_checks.py",
                        "pipeline_checks.py", "background_checks.py")
SLICER_SIDE_LIB = ("scene/mrml_bridge.py", "scene/logic.py", "scene/background.py",
                   "scene/torch_probe.py", "scene/torch_install.py",
                   "scene/process_tree.py", "scene/panel.py", "scene/results_writer.py") + tuple(
    "../NegativeVolumeSegmentationSelfTest/" + name for name in SELFTEST_CHECK_FILES)
SELFTEST_PYTEST_FILES = ("scene/test_mrml_bridge.py", "scene/test_slicer_pipeline.py")
TORCH_INSTALL_FILE = os.path.join(LIB_DIR, "scene", "torch_install.py")


def read(path):
    """The text of a source file (UTF-8)."""
    with open(path, encoding="utf-8") as f:
        return f.read()


def lib_files():
    """Every .py file of the Lib and the self-test package, relative to the module folder."""
    found = []
    for root, dirs, files in list(os.walk(LIB_DIR)) + list(os.walk(SELFTEST_DIR)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.relpath(os.path.join(root, f), MODULE_DIR).replace(os.sep, "/")
                  for f in files if f.endswith(".py")]
    return sorted(found)
