"""All-or-nothing result folders and the CLI's one-line errors."""

import os
import stat

import pytest

from NegativeVolumeSegmentationLib import cli
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.io.results_folder import check_writable, staged_output


def test_staged_output_moves_files_on_success(tmp_path):
    out = tmp_path / "result"
    with staged_output(str(out)) as stage:
        with open(os.path.join(stage, "a.txt"), "w") as f:
            f.write("x")
        os.makedirs(os.path.join(stage, "meshes"))
        with open(os.path.join(stage, "meshes", "b.txt"), "w") as f:
            f.write("y")
        # nothing is visible in the result folder before the block ends
        assert sorted(p for p in os.listdir(str(out)) if not p.startswith(".nvseg-partial-")) == []
    assert (out / "a.txt").read_text() == "x"
    assert (out / "meshes" / "b.txt").read_text() == "y"
    assert [p for p in os.listdir(str(out)) if p.startswith(".nvseg")] == []


def test_staged_output_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(RuntimeError):
        with staged_output(str(out)) as stage:
            with open(os.path.join(stage, "report.json"), "w") as f:
                f.write("{")
            raise RuntimeError("stage failed")
    assert os.listdir(str(out)) == []


def test_output_path_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        check_writable(str(f))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder_is_rejected(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InputError, match="not writable"):
        check_writable(str(ro))


def test_cli_turns_input_errors_into_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    # `phantom` into a path that is a file: a user error, one line, exit 2
    status = cli.main(["phantom", str(target), "--kind", "analytic"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("nvseg: ") and err.count("\n") == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_unwritable_location_is_rejected_even_for_root(tmp_path):
    # /proc refuses new folders for every user, root included
    with pytest.raises(InputError, match="output folder"):
        with staged_output("/proc/self/nvseg-out"):
            pass
