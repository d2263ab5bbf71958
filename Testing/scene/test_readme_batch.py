"""The README's batch-console script (``nv_batch.py``), run as written on slicer-core.

Slicer's application-level helpers the script calls (``slicer.util.loadVolume``, ``saveNode``,
``exit``) need the Slicer application; small stand-ins take their place (reading with
SimpleITK into a volume node as Slicer's loader does, a single slice becoming a one-slice
volume). Everything else is the script's own code and the module's real Logic: a held-out head
phantom must come out within 10 % of its truth, the same head on 5 mm slices "not measurable"
with its reason in nvseg run's cohort.csv columns, a single-slice image must get its error in
its cohort.csv row without stopping the batch, and a .seg.nrrd beside the CTs must be skipped.
"""

import csv
import json
import os
import re
import sys

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
pytest.importorskip("torch", reason="torch is not installed")

import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib.scene import mrml_bridge
from NegativeVolumeSegmentationSelfTest import checks as slicer_selftest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_script():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"<!-- nv_batch.py begin -->\s*```python\n(.*?)```\s*"
                      r"<!-- nv_batch.py end -->", text, re.S)
    assert block, "the README lost its nv_batch.py block"
    return block.group(1)


@pytest.mark.slow
def test_readme_batch_script_processes_a_folder(scene, tmp_path, monkeypatch):
    from NegativeVolumeSegmentationLib import pipeline
    from NegativeVolumeSegmentationLib.inference import models as bundled_models

    try:
        bundled_models.load_models(device="cpu")
    except bundled_models.ModelError as error:
        pytest.skip("bundled models not available: %s" % error)
    in_dir, out_dir = tmp_path / "cts", tmp_path / "results"
    in_dir.mkdir()
    phantom = slicer_selftest.head_phantom()
    sitk.WriteImage(phantom.ct, str(in_dir / "head.nii.gz"))
    thick = list(phantom.ct.GetSpacing()[:2]) + [5.0]   # the same head on 5 mm slices
    size = [int(round(n * a / b)) for n, a, b in zip(phantom.ct.GetSize(), phantom.ct.GetSpacing(),
                                                   thick)]
    sitk.WriteImage(sitk.Resample(phantom.ct, size, sitk.Transform(), sitk.sitkLinear,
                                  phantom.ct.GetOrigin(), thick, phantom.ct.GetDirection(),
                                  -1000.0, phantom.ct.GetPixelID()), str(in_dir / "thick.nii.gz"))
    flat = sitk.Image([40, 40], sitk.sitkInt16)
    sitk.WriteImage(flat, str(in_dir / "flat.nii.gz"))
    sitk.WriteImage(flat, str(in_dir / "flat.nrrd"))   # the same stem: cases told apart by ending
    (in_dir / "head.seg.nrrd").write_text("not a CT: must be skipped")

    saved = []

    def load_volume(path):  # Slicer's loader: a 2D file becomes a one-slice volume
        image = sitk.ReadImage(path)
        if image.GetDimension() == 2:
            image = sitk.JoinSeries([image])
        name = os.path.basename(path).split(".")[0]
        return mrml_bridge.volume_node_from_image(image, slicer.mrmlScene, name)

    def save_node(node, path):
        saved.append((node.GetClassName(), os.path.basename(path)))
        with open(path, "w") as handle:
            handle.write(node.GetName())
        return True

    def exit_(code=0):
        raise SystemExit(code)

    monkeypatch.setattr(slicer.util, "loadVolume", load_volume)
    monkeypatch.setattr(slicer.util, "saveNode", save_node)
    monkeypatch.setattr(slicer.util, "exit", exit_, raising=False)
    monkeypatch.setattr(sys, "argv", ["nv_batch.py", str(in_dir), str(out_dir)])
    with pytest.raises(SystemExit) as ended:
        exec(compile(readme_script(), "nv_batch.py", "exec"), {"__name__": "__main__"})
    assert ended.value.code == 0  # two cases of four failed: nvseg run's exit status too

    with open(out_dir / "cohort.csv") as handle:
        rows = {row["case"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["flat_nii_gz", "flat_nrrd", "head", "thick"]   # not one "flat"
    for name in ("flat_nii_gz", "flat_nrrd"):
        assert rows[name]["status"] == "failed" and "single slice" in rows[name]["error"]
    head = rows["head"]
    assert head["status"] == "ok" and head["error"] == "" and head["mode"] == "confined"
    for side in ("left", "right"):
        truth = phantom.truth[side]["negative_volume_mm3"]
        measured = float(head[side + "_negative_volume_mm3"])
        print(side, measured, truth)
        assert abs(measured / truth - 1.0) <= 0.10, (side, measured, truth)
        assert head[side + "_measurable"] == "yes"
        # 5 mm slices cannot hold a joint space of 2-3 mm: no number, the reason in its place
        thick = rows["thick"]
        assert thick["status"] == "ok" and thick[side + "_measurable"] == "no"
        assert thick[side + "_negative_volume_mm3"] == "" and "slices 5 mm" in thick[side + "_reason"]
    assert thick["asymmetry_negative_volume_percent"] == ""
    with open(out_dir / "head_report.json") as handle:
        report = json.load(handle)
    assert report["left"]["negative_volume_mm3"] == pytest.approx(
        float(head["left_negative_volume_mm3"]), abs=1e-3)
    assert ("vtkMRMLSegmentationNode", "head.seg.nrrd") in saved
    assert ("vtkMRMLTableNode", "head_table.csv") in saved
