"""DICOM files that cannot be read: a slice cut short, a folder or a slice we may not read, named
in one line, not taken for missing slices (io/ct.py read_ct and find_cases, io/dicom_series.py).

Truth is the synthetic series of synthetic_ct.py written by dicom_writer.py, then damaged here:
which file was cut or locked is known. Permissions are simulated where this process reads any
file (root), and set for real where modes are obeyed.
"""

import os

import pytest

from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.ct import find_cases, read_ct
from dicom_writer import write_dicom_series
from synthetic_ct import make_ct


def test_a_damaged_slice_is_named_not_called_a_missing_slice(tmp_path):
    """A slice file cut short: GDCM passes over it and the series, one slice short, was refused
    as "slice spacing varies ... missing slices". Now the refusal says which file it could not
    read."""
    folder = write_dicom_series(make_ct(), str(tmp_path / "cut"), tags=[("0020|0011", "2")])
    damaged = sorted(os.listdir(folder))[10]
    with open(os.path.join(folder, damaged), "rb") as handle:
        data = handle.read()
    with open(os.path.join(folder, damaged), "wb") as handle:
        handle.write(data[:-300])
    with pytest.raises(InputError) as error:
        read_ct(folder)
    assert ("cannot read 1 file beside DICOM series 2, damaged or unreadable: %s" % damaged
            in str(error.value)), error.value
    # a slice removed, and beside the series a file GDCM passes over too (no pixel data, as a
    # dose report): of another series, so still "missing slices"
    from dicom_writer import edit_dicom_file

    folder = write_dicom_series(make_ct(), str(tmp_path / "gap"), tags=[("0020|0011", "2")])
    os.remove(os.path.join(folder, sorted(os.listdir(folder))[10]))
    report = write_dicom_series(make_ct(), str(tmp_path / "sr"), series_uid="1.2.826.0.1.9.9",
                                count=1)
    name = os.listdir(report)[0]
    edit_dicom_file(os.path.join(report, name), [("7fe0|0010", None), ("0008|0060", b"SR")])
    os.rename(os.path.join(report, name), os.path.join(folder, "zz_" + name))
    with pytest.raises(InputError, match="slice spacing varies from 1.250 to 2.500 mm"):
        read_ct(folder)


def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    """A case folder we may not list gave "internal error: PermissionError" (os.listdir in the
    DICOM reader). Now one line, from read_ct and from find_cases. The test runs as root here,
    which may list any folder: the refusal is simulated for that folder alone."""
    folder = write_dicom_series(make_ct(), str(tmp_path / "locked"))
    listdir = os.listdir

    def denied(path="."):
        if os.path.abspath(str(path)) == os.path.abspath(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", denied)
    for read in (read_ct, lambda path: find_cases([path])):
        with pytest.raises(InputError, match="locked: cannot read folder: permission denied$"):
            read(folder)


def _modes_obeyed(tmp_path):
    """Whether this process is refused a file of mode 000 (not root with its override)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    os.chmod(str(probe), 0)
    try:
        open(str(probe)).close()
        return False
    except OSError:
        return True
    finally:
        os.chmod(str(probe), 0o644)


def test_unreadable_folders_and_slices_for_real(tmp_path):
    """The same with real permissions: a folder of mode 000, and one slice of mode 000 in the
    middle of a series (GDCM passes over it). Skipped where modes are not obeyed (root; run it
    as root with ``setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=...``)."""
    if not _modes_obeyed(tmp_path):
        pytest.skip("this process reads files whatever their mode (root)")
    cohort = tmp_path / "cohort"                 # one study in two folders, one locked
    write_dicom_series(make_ct(), str(cohort / "ok"))
    locked = write_dicom_series(make_ct(), str(cohort / "locked"))
    os.chmod(locked, 0)
    try:
        with pytest.raises(InputError, match="cannot read folder: permission denied"):
            read_ct(locked)
        assert [name for name, _ in find_cases([str(cohort)])] == ["locked", "ok"]
    finally:
        os.chmod(locked, 0o755)
    folder = write_dicom_series(make_ct(), str(tmp_path / "slice"), tags=[("0020|0011", "2")])
    names = sorted(os.listdir(folder))
    for k, expected in ((10, None), (0, 21)):
        hidden = os.path.join(folder, names[k])
        os.chmod(hidden, 0)
        try:
            if expected is None:
                with pytest.raises(InputError, match="cannot read 1 file beside DICOM series 2, "
                                                     "permission denied: " + names[k]):
                    read_ct(folder)
            else:                                # the first slice: a shorter series, said
                image, warnings = read_ct(folder)
                assert image.GetDepth() == expected
                assert warnings == ["%s: cannot read 1 file beside DICOM series 2, permission "
                                    "denied: %s; measured the 21 slices read"
                                    % (folder, names[k])], warnings
        finally:
            os.chmod(hidden, 0o644)
