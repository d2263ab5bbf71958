"""The one options object: defaults, checks, and the same values through every route."""

import argparse

import pytest

from NegativeVolumeSegmentationLib import options as O
from NegativeVolumeSegmentationLib.errors import InputError


def test_defaults_and_conversion():
    options = O.RunOptions(mode="paper", max_distance_mm="12")
    assert options.max_distance_mm == 12.0 and options.mode == "paper"
    assert options.segment is True and options.device == "auto" and options.cube_mm == 30.0
    assert set(options.to_dict()) == set(O.BY_NAME)
    assert options.report_parameters() == {"mode": "paper", "max_distance_mm": 12.0,
                                           "cube_mm": 30.0, "enhance_temporal_bone": False}
    assert O.RunOptions().report_parameters()["cube_mm"] is None  # confined: no cube


@pytest.mark.parametrize("bad, match", [
    ({"mode": "wide"}, "mode"), ({"device": "tpu"}, "device"),
    ({"max_distance_mm": 0}, "max_distance_mm must be a positive finite number of mm"),
    ({"max_distance_mm": float("nan")}, "max_distance_mm"), ({"cube_mm": -1}, "cube_mm"),
    # infinite passed and crashed in the engine ("internal error: TypeError ... RegionOfInterest")
    ({"max_distance_mm": float("inf")}, "max_distance_mm must be a positive finite"),
    ({"cube_mm": "inf"}, "cube_mm must be a positive finite"),
    ({"asymmetry_threshold_percent": float("-inf")}, "between 0 and 100"),
    ({"smoothing": 1.5}, "smoothing must be between 0 and 1"),
    ({"max_distance_mm": "ten"}, "must be a number"), ({"colour": "red"}, "unknown option"),
    # bool("maybe") is True: any value passed, and segment="false" segmented the CT (replacing
    # the segments given to be measured)
    ({"segment": "maybe"}, "segment must be true or false"),
    ({"segment": None}, "segment must be true or false"),
    ({"show_thickness": 2}, "show_thickness must be true or false"),
    ({"enhance_tb": 0.5}, "enhance_tb must be true or false"),
])
def test_bad_values_are_refused_in_one_line(bad, match):
    with pytest.raises(InputError, match=match) as caught:
        O.RunOptions(**bad)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("given, meant", [
    ("false", False), ("False", False), ("no", False), ("0", False), (0, False), (False, False),
    ("true", True), ("Yes", True), ("on", True), ("1", True), (1, True), (True, True)])
def test_yes_or_no_in_words_means_what_it_says(given, meant):
    assert O.RunOptions(segment=given).segment is meant
    assert O.RunOptions(create_surfaces=given).create_surfaces is meant


def test_json_round_trip_is_exact():
    options = O.RunOptions(mode="paper", max_distance_mm=7.25, segment=False, device="cpu")
    again = O.RunOptions.from_json(options.to_json())
    assert again == options and again.to_dict() == options.to_dict()
    with pytest.raises(InputError, match="JSON"):
        O.RunOptions.from_json("{not json")


def test_command_line_flags_read_the_same_defaults_and_name_the_flag():
    parser = argparse.ArgumentParser()
    O.add_arguments(parser, ("device", "max_distance_mm", "mode", "cube_mm", "enhance_tb"))
    options = O.from_arguments(parser.parse_args([]))
    assert options == O.RunOptions()
    options = O.from_arguments(parser.parse_args(["--mode", "paper", "--max-distance", "6",
                                                  "--enhance-tb"]), segment=False)
    assert (options.mode, options.max_distance_mm, options.enhance_tb, options.segment) == (
        "paper", 6.0, True, False)
    with pytest.raises(InputError, match="^--max-distance must be a positive finite number"):
        O.from_arguments(parser.parse_args(["--max-distance", "0"]))
    with pytest.raises(InputError, match="^--max-distance must be a positive finite number"):
        O.from_arguments(parser.parse_args(["--max-distance", "inf"]))


def test_training_config_evaluation_defaults_come_from_the_options():
    from NegativeVolumeSegmentationLib.training import config

    evaluate = config.SCHEMA["evaluate"]
    assert evaluate["max_distance_mm"].default == O.DEFAULTS["max_distance_mm"]
    assert evaluate["mode"].default == O.DEFAULTS["mode"]
    assert config.SCHEMA["train"]["device"].default == O.DEFAULTS["device"]


def test_a_cube_outside_mode_paper_is_said_to_be_ignored(capsys):
    """``--cube 20`` with the default mode was ignored without a word."""
    from NegativeVolumeSegmentationLib import cli

    assert O.unused(O.RunOptions(cube_mm=20)) == [
        "--cube 20 is read by mode paper only; ignored in mode confined"]
    assert O.unused(O.RunOptions(cube_mm=20, mode="paper")) == []
    assert O.unused(O.RunOptions()) == []
    code = cli.main(["negative-volume", "missing.nii.gz", "-o", "out", "--cube", "20"])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines()[0] == ("nvseg: --cube 20 is read by mode paper only; "
                                                 "ignored in mode confined")
