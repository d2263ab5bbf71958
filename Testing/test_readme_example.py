"""The README's Python example, run as written on a held-out head phantom with known truth."""

import json
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="torch is not installed")

import SimpleITK as sitk  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NV_TOLERANCE = 0.10  # pipeline acceptance on held-out phantoms (Testing/inference/test_pipeline_phantom.py)


def readme_example():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"<!-- python example begin -->\s*```python\n(.*?)```\s*"
                      r"<!-- python example end -->", text, re.S)
    assert block, "the README lost its Python example"
    return block.group(1)


@pytest.mark.slow
def test_readme_python_example_runs_and_measures_the_phantom(tmp_path):
    from NegativeVolumeSegmentationLib.inference import models as bundled_models
    from NegativeVolumeSegmentationLib.phantom import make_phantom

    try:
        bundled_models.load_models(device="cpu")
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)
    phantom = make_phantom("head", seed=100010, fov="head", spacing=(0.65, 0.65, 1.25))
    sitk.WriteImage(phantom.ct, str(tmp_path / "head_ct.nii.gz"))
    sitk.WriteImage(phantom.labels, str(tmp_path / "labels.nii.gz"))
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    out = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    # both sides measured: a side printed "not measurable: <reason>" has no number of its own
    both = re.match(r"NV left ([-\d.]+) mm3, right ([-\d.]+) mm3, asymmetry ", lines[0])
    assert both, lines[0]
    numbers = [float(v) for v in both.groups()]
    assert len(numbers) == 2, lines[0]
    truth = phantom.truth
    for value, side in zip(numbers, ("left", "right")):
        expected = truth[side]["negative_volume_mm3"]
        assert abs(value - expected) <= NV_TOLERANCE * expected, (side, value, expected)
    from_labels = float(re.search(r"NV left ([\d.]+) mm3", lines[1]).group(1))
    expected = truth["left"]["negative_volume_mm3"]
    assert abs(from_labels - expected) <= NV_TOLERANCE * expected, (from_labels, expected)
    # the files `nvseg run` writes, the report holding the printed numbers
    folder = tmp_path / "out" / "head_ct"
    for name in ("report.json", "labels.nii.gz", "segmentation.seg.nrrd", "report.png",
                 "left_condyle.vtk"):
        assert (folder / name).is_file(), name
    with open(str(folder / "report.json")) as handle:
        report = json.load(handle)
    assert round(report["left"]["negative_volume_mm3"]) == round(numbers[0])
