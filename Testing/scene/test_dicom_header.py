"""A volume loaded by Slicer's DICOM module: the panel reads its series' header as `nvseg run`
reads a DICOM folder's (scene/dicom_header.py) — the quality gate sees the slice thickness,
report.json names the series. Slicer's DICOM database is stood in for by an object with its
``isOpen`` and ``fileForInstance`` (slicer-core has no DICOM database)."""

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

import SimpleITK as sitk  # noqa: E402

from NegativeVolumeSegmentationLib import RunOptions, quality  # noqa: E402
from NegativeVolumeSegmentationLib.io.ct import read_ct  # noqa: E402
from NegativeVolumeSegmentationLib.io.dicom_series import series_record  # noqa: E402
from NegativeVolumeSegmentationLib.scene import logic, mrml_bridge  # noqa: E402

from dicom_writer import write_dicom_series  # noqa: E402

SERIES = "1.2.826.0.1.3680043.2.1125.13.1"


class _Database(object):
    """Slicer's ctkDICOMDatabase as far as dicom_header uses it."""

    def __init__(self, files, is_open=True):
        self.files, self.isOpen = files, is_open

    def fileForInstance(self, uid):
        return self.files.get(uid, "")


def _thick_series(tmp_path):
    """(folder, the CT): 3 mm thick slices reconstructed 1.25 mm apart, as a DICOM series."""
    ct = sitk.Image([30, 28, 24], sitk.sitkInt16) - 1000
    ct.SetSpacing((0.5, 0.5, 1.25))
    folder = write_dicom_series(ct, str(tmp_path / "thick"), SERIES,
                                tags=[("0018|0050", "3.0"), ("0020|0011", "5"),
                                      ("0008|103e", "TMJ 3 mm"), ("0018|1210", "H60s")])
    return folder, ct


def test_a_volume_from_the_dicom_database_is_judged_as_its_series(scene, tmp_path,
                                                                  monkeypatch):
    folder, _ct = _thick_series(tmp_path)
    from_folder = read_ct(folder)[0]
    node = mrml_bridge.volume_node_from_image(from_folder, scene, name="TMJ 3 mm")
    first = sorted((tmp_path / "thick").iterdir())[0]
    node.SetAttribute("DICOM.instanceUIDs", "%s.1 %s.2" % (SERIES, SERIES))
    monkeypatch.setattr(slicer, "dicomDatabase", _Database({SERIES + ".1": str(first)}),
                        raising=False)
    image, _name = logic.input_image(node)
    assert series_record(image) == series_record(from_folder) == {
        "uid": SERIES, "number": "5", "description": "TMJ 3 mm", "kernel": "H60s",
        "thickness": "3.0"}
    # the grid alone says 1.25 mm slices; the gate judges the series' 3 mm, as for the folder
    for judged in (image, from_folder):
        assert "slices 3 mm" in quality.check_grid(judged).reason
    report = logic.add_inputs({"inputs": {"ct": "in-memory image",
                                          "dicom_series": series_record(image)}},
                              node, RunOptions())
    assert report["inputs"] == {"ct_volume": "TMJ 3 mm", "segmented": True, "segmentation": None,
                                "dicom_series": series_record(image)}


def test_without_the_database_or_its_file_the_volume_is_left_as_it_is(scene, tmp_path,
                                                                      monkeypatch):
    folder, ct = _thick_series(tmp_path)
    node = mrml_bridge.volume_node_from_image(ct, scene, name="from a file")
    monkeypatch.setattr(slicer, "dicomDatabase", None, raising=False)
    assert series_record(logic.input_image(node)[0]) is None       # no attribute
    node.SetAttribute("DICOM.instanceUIDs", SERIES + ".1")
    assert series_record(logic.input_image(node)[0]) is None       # no database
    monkeypatch.setattr(slicer, "dicomDatabase", _Database({}), raising=False)
    assert series_record(logic.input_image(node)[0]) is None       # file not in it
    monkeypatch.setattr(slicer, "dicomDatabase",
                        _Database({SERIES + ".1": folder + "/gone.dcm"}), raising=False)
    assert series_record(logic.input_image(node)[0]) is None       # file deleted
    closed = _Database({SERIES + ".1": str(sorted((tmp_path / "thick").iterdir())[0])}, False)
    monkeypatch.setattr(slicer, "dicomDatabase", closed, raising=False)
    image = logic.input_image(node)[0]
    assert series_record(image) is None and quality.check_grid(image).reason is None
