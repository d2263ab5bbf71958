"""Fixtures of the ``nvseg run`` tests: the analytic two-joint CT and its hand-made networks
(two_joint_ct.py)."""

import pytest

from NegativeVolumeSegmentationLib.inference import models as bundled_models
from two_joint_ct import hand_models, make_ct


@pytest.fixture(scope="module")
def ct_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ct") / "twojoints.nii.gz"
    make_ct(path)
    return str(path)


@pytest.fixture
def patched_models(monkeypatch):
    monkeypatch.setattr(bundled_models, "load_models", lambda model_dir=None, device="cpu": hand_models())
