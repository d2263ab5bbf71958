"""Static checks of the CMake side of the extension: every .py file of the Lib and the self-test
package is listed in the module CMakeLists (sorted), the extension CMakeLists has the parts the
Extensions Index needs, and both configure with CMake against a stub Slicer."""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

from module_sources import MODULE_DIR, REPO
from module_sources import lib_files as _lib_files
from module_sources import read as _read


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
