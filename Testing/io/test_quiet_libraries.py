"""stderr carries only our messages: ITK, GDCM, MetaIO, nifticlib and VTK stay quiet.

Before: ``nvseg run EMPTY -o out`` printed three lines of ITK's own warning
(``WARNING: In .../itkGDCMSeriesFileNames.cxx, line 101 ... No Series were found``) and a CT .mhd
without its data file printed MetaIO's ``MetaImage: Read: Cannot open data file`` before our
one-line message. Output is captured at the file-descriptor level (capfd, subprocess pipes), so
messages written by C/C++ code are seen too.
"""

import os
import subprocess
import sys

import pytest
import SimpleITK as sitk

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.ct import find_cases, read_ct
from NegativeVolumeSegmentationLib.io.quiet import quiet_libraries
from test_bad_input import (CT_CASES, corrupt_nifti, empty_folder, folder_without_dicom,
                            mhd_without_data)
from test_gantry_tilt import _missing_slice_tilted


@pytest.mark.parametrize("build,expected", CT_CASES, ids=[c[0].__name__ for c in CT_CASES])
def test_reading_bad_ct_writes_nothing_to_stderr(tmp_path, capfd, build, expected):
    path = build(str(tmp_path))
    capfd.readouterr()
    with pytest.raises(InputError, match=expected.replace("(", r"\(")):
        read_ct(path)
    if os.path.isdir(path):
        try:
            find_cases([path])
        except InputError:
            pass
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_reading_a_study_folder_writes_nothing_to_stderr(tmp_path, capfd):
    """Five series (scout, two axial CTs, a reformat, an MR series): each described from its
    header and one read; what GDCM says stays in our one warning."""
    from dicom_study import write_study

    folder = str(tmp_path / "study")
    write_study(folder)
    capfd.readouterr()
    _image, warnings = read_ct(folder)
    assert len(warnings) == 1 and capfd.readouterr() == ("", "")


def test_quiet_libraries_collects_raw_stderr_and_restores_settings(capfd):
    from vtkmodules.vtkCommonCore import vtkObject
    from vtkmodules.vtkIOLegacy import vtkPolyDataReader

    sitk_before = sitk.ProcessObject.GetGlobalWarningDisplay()
    vtk_before = vtkObject.GetGlobalWarningDisplay()
    with quiet_libraries() as messages:
        os.write(2, b"library chatter\n")
        reader = vtkPolyDataReader()
        reader.SetFileName("/nonexistent/surface.vtk")
        reader.Update()                                  # VTK error: cannot open file
        with quiet_libraries() as inner:                 # nested use keeps the outer capture
            os.write(2, b"more chatter\n")
        assert not sitk.ProcessObject.GetGlobalWarningDisplay()
    assert messages == ["library chatter", "more chatter"] and inner == []
    assert sitk.ProcessObject.GetGlobalWarningDisplay() == sitk_before
    assert vtkObject.GetGlobalWarningDisplay() == vtk_before
    assert capfd.readouterr() == ("", "")


def _nvseg(args, cwd):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env.pop("NVSEG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "NegativeVolumeSegmentationLib.cli"] + args,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("build,expected", [
    (empty_folder, "no CT files"),
    (folder_without_dicom, "no CT files"),
    (mhd_without_data, "missing data file"),
    (corrupt_nifti, "cannot read it as a NIfTI image"),
    (_missing_slice_tilted, "slice spacing varies"),
], ids=["empty_folder", "folder_without_dicom", "mhd_without_data", "corrupt_nifti",
        "dicom_missing_slice"])
def test_nvseg_run_on_bad_input_prints_one_line(tmp_path, build, expected):
    path = build(str(tmp_path))
    done = _nvseg(["run", path, "-o", str(tmp_path / "OUT")], str(tmp_path))
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("nvseg: ") and expected in lines[0], lines
