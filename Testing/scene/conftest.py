"""Fixtures of the module-file tests in this folder: the module file on Qt stand-ins
(panel_standins.py) and its Widget after setup()."""

import types

import pytest


@pytest.fixture
def module_file(scene, monkeypatch, tmp_path):
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from panel_standins import load_module_file

    return load_module_file(scene, monkeypatch, tmp_path)


@pytest.fixture
def widget(module_file):
    """The module's Widget after its own setup() (on the fake Qt layer); cleaned up after."""
    widget = module_file.NegativeVolumeSegmentationWidget(types.SimpleNamespace(isEntered=False))
    widget.setup()
    yield widget
    widget.cleanup()
