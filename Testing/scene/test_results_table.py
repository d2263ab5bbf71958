"""The Slicer results table (scene/results_table.py) says why a number is missing.

Before: a side "not measurable" showed NaN in every row with no reason (like a value whose ray
missed), both sides not measurable gave an empty table, and a mouth-open NV asymmetry showed a
bare number where report.png and the panel say "not flagged (mouth open?)"."""

import math

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from NegativeVolumeSegmentationLib.scene.results_table import table_node_from_results  # noqa

SIDE = {"negative_volume_mm3": 812.5, "condyle_volume_mm3": 1500.0, "joint_space_min_mm": 0.9,
        "joint_space_mean_mm": 2.5, "joint_space_posterior_mm": None}


def _rows(node):
    table = node.GetTable()
    names = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    return [dict((name, table.GetColumnByName(name).GetValue(r)) for name in names)
            for r in range(table.GetNumberOfRows())]


def test_a_side_not_measurable_has_its_reason_in_the_note(scene):
    results = {"left": None, "right": SIDE,
               "asymmetry_percent": {"negative_volume": None, "condyle_volume": None},
               "quality": {"left": {"measurable": False, "reason": "metal in the condylar head"},
                           "right": {"measurable": True, "reason": None}}}
    rows = _rows(table_node_from_results(results, scene))
    assert rows[0]["Measurement"] == "Negative volume (joint space)"
    assert math.isnan(rows[0]["Left"]) and rows[0]["Right"] == 812.5
    assert rows[0]["Note"] == "left not measurable: metal in the condylar head"
    assert all(row["Note"].startswith("left not measurable") for row in rows)
    assert all(math.isnan(row["Asymmetry (%)"]) for row in rows)
    posterior = [row for row in rows if row["Measurement"] == "Joint space, posterior"][0]
    assert math.isnan(posterior["Right"])   # measured, but this ray met no bone: said so
    assert posterior["Note"] == ("left not measurable; right: no value (its rays met no "
                                 "temporal bone, or met air first)")


def test_values_the_quality_block_withholds_are_not_shown(scene):
    results = {"left": SIDE, "right": SIDE,
               "asymmetry_percent": {"negative_volume": 0.0, "condyle_volume": 0.0},
               "quality": {"left": {"measurable": False, "reason": "bones touch"},
                           "right": {"measurable": True, "reason": None}}}
    rows = _rows(table_node_from_results(results, scene))
    assert math.isnan(rows[0]["Left"]) and math.isnan(rows[0]["Asymmetry (%)"])


def test_both_sides_not_measurable_is_not_an_empty_table(scene):
    reason = "slices 5 mm (limit 2 mm): the 2-3 mm joint space is not resolved"
    results = {"left": None, "right": None, "asymmetry_percent": None,
               "quality": dict((side, {"measurable": False, "reason": reason})
                               for side in ("left", "right", "scan"))}
    rows = _rows(table_node_from_results(results, scene))
    assert len(rows) == 1 and math.isnan(rows[0]["Left"]) and math.isnan(rows[0]["Right"])
    assert rows[0]["Note"] == "left not measurable: %s; right not measurable: %s" % (reason,
                                                                                     reason)


def test_a_mouth_open_asymmetry_is_shown_not_flagged(scene):
    seated = dict(SIDE, joint_bounds={"on_eminence": True})
    results = {"left": seated, "right": SIDE,
               "asymmetry_percent": {"negative_volume": 12.3, "condyle_volume": 1.0}}
    rows = _rows(table_node_from_results(results, scene))
    assert rows[0]["Asymmetry (%)"] == 12.3
    assert rows[0]["Note"] == "asymmetry not flagged (mouth open?)"
    assert rows[1]["Note"] == ""


def test_an_asymmetry_above_the_threshold_is_flagged_as_the_panel_flags_it(scene):
    """Before: ``asymmetry_threshold_percent`` was accepted by ``logic.process`` and read by
    nothing; the table showed no flag at all."""
    results = {"left": SIDE, "right": SIDE,
               "asymmetry_percent": {"negative_volume": 8.0, "condyle_volume": 6.04}}
    rows = _rows(table_node_from_results(results, scene))   # default threshold: 6 %
    assert rows[0]["Note"] == "asymmetric: above 6 %"
    assert rows[1]["Note"] == ""   # 6.04 % reads "6.0 %": not above 6 %
    rows = _rows(table_node_from_results(results, scene, asymmetry_threshold_percent=2.5))
    assert [rows[0]["Note"], rows[1]["Note"]] == ["asymmetric: above 2.5 %"] * 2
    rows = _rows(table_node_from_results(results, scene, asymmetry_threshold_percent=10))
    assert [rows[0]["Note"], rows[1]["Note"]] == ["", ""]


def test_logic_process_honours_the_asymmetry_threshold(scene):
    """The threshold given to ``logic.process`` decides ``results["asymmetry_flags"]`` and the
    table's Note (an analytic phantom whose condyle spheres differ in radius)."""
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic

    phantom = make_phantom("analytic", seed=5, variant="sphere")   # radii drawn per side
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, segmentation, [1, 2, 3, 4])
    logic = MeasurementLogic()
    low = logic.process(ct, segmentation, segment=False, asymmetry_threshold_percent=0.0)
    asymmetry = low["asymmetry_percent"]
    shown = dict((key, round(value, 1)) for key, value in asymmetry.items())
    assert sorted(low["asymmetry_flags"]) == sorted(k for k, v in shown.items() if v > 0.0)
    assert "condyle_volume" in low["asymmetry_flags"]
    rows = _rows(scene.GetNodeByID(low["nodes"]["table"]))
    assert rows[1]["Note"] == "asymmetric: above 0 %"
    high = logic.process(ct, segmentation, segment=False, asymmetry_threshold_percent=100.0)
    assert high["asymmetry_flags"] == []
    rows = _rows(scene.GetNodeByID(high["nodes"]["table"]))
    assert not any("asymmetric" in row["Note"] for row in rows)


def test_a_second_run_into_no_segmentation_makes_distinct_names(scene):
    """``logic.process(ct)`` twice from the console (None: create) made two nodes named "CT TMJ
    segmentation", two "CT negative volume results" and two of each thickness model; now the
    second are "..._1", as Slicer names a second copy."""
    from NegativeVolumeSegmentationLib.options import RunOptions
    from NegativeVolumeSegmentationLib.phantom import make_phantom
    from NegativeVolumeSegmentationLib.scene import mrml_bridge
    from NegativeVolumeSegmentationLib.scene.logic import MeasurementLogic
    from NegativeVolumeSegmentationLib.scene.results_writer import write_results

    phantom = make_phantom("analytic", seed=5, variant="sphere")
    ct = mrml_bridge.volume_node_from_image(phantom.ct, scene, "CT")
    given = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT joints")
    mrml_bridge.segmentation_from_labels(phantom.labels, given, [1, 2, 3, 4])
    result = MeasurementLogic().compute(ct, given, segment=False)
    names = []
    for _ in range(2):   # as the segmenting runs write: into no segmentation
        nodes = write_results(result, ct, None, RunOptions())["nodes"]
        names.append((scene.GetNodeByID(nodes["segmentation"]).GetName(),
                      scene.GetNodeByID(nodes["table"]).GetName(),
                      scene.GetNodeByID(nodes["thickness_models"]["left"]).GetName()))
    assert names == [("CT TMJ segmentation", "CT negative volume results",
                      "CT left condyle joint space thickness"),
                     ("CT TMJ segmentation_1", "CT negative volume results_1",
                      "CT left condyle joint space thickness_1")]
