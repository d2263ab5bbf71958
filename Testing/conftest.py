"""Shared fixtures. Real data is read from ../shared/data/real beside the checkout, never copied."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_REAL = os.environ.get(
    "NVSEG_SHARED_REAL", os.path.join(os.path.dirname(REPO), "shared", "data", "real"))


@pytest.fixture(scope="session")
def real_head_ct_path():
    """Path of the real head CT (Visible Human Female), or skip when ../shared is absent."""
    path = os.path.join(SHARED_REAL, "vhf_head.nii.gz")
    if not os.path.exists(path):
        pytest.skip("real head CT not found at %s (the ../shared folder is absent)" % path)
    return path
