"""Fixtures of the ``nvseg run`` tests: the analytic two-joint CT and its hand-made networks
(two_joint_ct.py); of the ``nvseg negative-volume`` tests: the analytic phantom case
(analytic_case.py)."""

import pytest

from NegativeVolumeSegmentationLib.inference import models as bundled_models
from analytic_case import write_case
from two_joint_ct import hand_models, make_ct


@pytest.fixture(scope="module")
def ct_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ct") / "twojoints.nii.gz"
    make_ct(path)
    return str(path)


@pytest.fixture
def patched_models(monkeypatch):
    monkeypatch.setattr(bundled_models, "load_models", lambda model_dir=None, device="cpu": hand_models())


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """(analytic phantom, folder it is written in): labels.nii.gz and ct.nii.gz with the
    phantom's closed-form truth; tests must not modify them."""
    folder = tmp_path_factory.mktemp("phantom")
    ph = write_case(folder)
    return ph, str(folder)
