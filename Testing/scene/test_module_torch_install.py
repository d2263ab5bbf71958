"""The Widget's PyTorch step on Qt stand-ins: PyTorchUtils' installTorch when the extension is
there, pip after a confirmation otherwise, and a panel that recovers from every failure."""

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")

from panel_standins import (TorchOnDisk, panel_ready, pytorch_utils,  # noqa: E402
                            segment_inputs)


@pytest.mark.parametrize("installed, version", [(False, None), (True, "1.12.1+cu113")])
def test_widget_asks_pytorchutils_for_torch_113_and_recovers_when_declined(
        module_file, widget, scene, monkeypatch, installed, version):
    """Missing or too old PyTorch: Apply asks SlicerPyTorch's installTorch (which asks the user)
    for >=1.13; None back (declined) leaves a status line and the panel ready, nothing run."""
    torch = TorchOnDisk(installed, version)
    started = segment_inputs(scene, widget, monkeypatch, torch)
    calls = []
    pytorch_utils(monkeypatch, calls, lambda: None)
    widget.onApplyButton()
    assert calls == [("installTorch", True, ">=1.13")] and started == []
    assert widget.ui.statusLabel.text.startswith("Not started: segmenting the CT needs PyTorch "
                                                 "1.13 or newer")
    assert panel_ready(widget) and module_file.errors_shown == []


def test_widget_reports_an_installer_that_raises_or_installs_too_old(module_file, widget,
                                                                     scene, monkeypatch):
    torch = TorchOnDisk(False)
    started = segment_inputs(scene, widget, monkeypatch, torch)
    calls = []

    def broken():
        raise RuntimeError("light-the-torch:\n no network")

    pytorch_utils(monkeypatch, calls, broken)
    widget.onApplyButton()
    assert started == [] and panel_ready(widget)
    assert widget.ui.statusLabel.text == ("Not started: PyTorch could not be installed: "
                                          "light-the-torch: no network")
    assert len(module_file.errors_shown) == 1 and "no network" in module_file.errors_shown[0]

    def too_old():  # the installer "succeeds" but what is on disk is still too old
        torch.package = (True, "1.10.0", None)
        return object()

    pytorch_utils(monkeypatch, calls, too_old)
    widget.onApplyButton()
    assert started == [] and panel_ready(widget)
    assert widget.ui.statusLabel.text == ("Not started: Segmenting the CT needs PyTorch 1.13 or "
                                          "newer; PyTorch 1.10.0 is installed.")
    assert "1.10.0" in widget.ui.deviceInfoLabel.text  # the device line was re-read


def test_widget_goes_on_once_pytorch_is_installed(module_file, widget, scene, monkeypatch):
    torch = TorchOnDisk(False)
    started = segment_inputs(scene, widget, monkeypatch, torch)
    calls = []

    def install():
        torch.package = (True, "2.3.1+cpu", None)
        return object()

    pytorch_utils(monkeypatch, calls, install)
    widget.onApplyButton()
    assert calls == [("installTorch", True, ">=1.13")] and started == [True]
    assert "2.3.1" in widget.ui.deviceInfoLabel.text
    widget.onApplyButton()  # now found on disk: no second install
    assert len(calls) == 1 and started == [True, True]


def test_widget_without_pytorchutils_asks_before_pip(module_file, widget, scene, monkeypatch):
    """Without the PyTorch extension: a confirmation first; no means no pip; a pip failure or
    success ends as a status line or the run."""
    import sys

    torch = TorchOnDisk(True, "1.8.0")
    started = segment_inputs(scene, widget, monkeypatch, torch)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the extension is not installed
    calls, answers = [], [False, True, True]
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay",
                        lambda text, *a, **k: calls.append(("confirm", text)) or answers.pop(0))
    results = [RuntimeError("pip failed: no space left"), None]

    def pip_install(requirement):
        calls.append(("pip", requirement))
        outcome = results.pop(0)
        if outcome is not None:
            raise outcome
        torch.package = (True, "2.0.1", None)

    monkeypatch.setattr(slicer.util, "pip_install", pip_install)
    widget.onApplyButton()
    assert [c[0] for c in calls] == ["confirm"] and started == [] and panel_ready(widget)
    assert "1.8.0" in calls[0][1] and "torch>=1.13" in calls[0][1]
    assert "declined" in widget.ui.statusLabel.text
    widget.onApplyButton()
    assert calls[1:] == [("confirm", calls[0][1]), ("pip", "torch>=1.13")]
    assert started == [] and panel_ready(widget)
    assert widget.ui.statusLabel.text.endswith("could not be installed: pip failed: no space left")
    widget.onApplyButton()
    assert [c[0] for c in calls[3:]] == ["confirm", "pip"] and started == [True]


def test_a_second_apply_while_pytorch_installs_does_nothing(module_file, widget, scene,
                                                            monkeypatch):
    """The installers process Qt events while they download (Slicer's pip_install after each
    line), so Apply could be clicked again: a second confirmation and a second install into the
    same site-packages began. Now Apply is disabled and ignored until the install ends."""
    torch = TorchOnDisk(False)
    started = segment_inputs(scene, widget, monkeypatch, torch)
    calls, during = [], []

    def install():   # the user clicks Apply again while this one downloads
        during.append(widget.ui.applyButton.enabled)
        widget.onApplyButton()
        torch.package = (True, "2.3.1+cpu", None)
        return object()

    pytorch_utils(monkeypatch, calls, install)
    widget.onApplyButton()
    assert during == [False] and len(calls) == 1 and started == [True]
    assert panel_ready(widget)
