"""Sliding-window inference equals one forward pass for convolutional models; Gaussian weights
have the analytic form; device choice (inferers.py, device.py)."""

import numpy as np
import pytest
import torch

from NegativeVolumeSegmentationLib.inference import device as D
from NegativeVolumeSegmentationLib.inference import inferers
from NegativeVolumeSegmentationLib.errors import InputError


def _model(kernel):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, kernel, padding=kernel // 2), torch.nn.Tanh(),
                              torch.nn.Conv3d(4, 3, 1))
    return net.eval()


def test_gaussian_weights_analytic():
    w = inferers.gaussian_weights((9, 17, 33))
    assert w.shape == (9, 17, 33)
    assert w[4, 8, 16] == pytest.approx(1.0)
    # separable: w(z, y, x) = gz * gy * gx with g(d) = exp(-d^2 / (2 (n/8)^2))
    d = 16 - 0
    expected = np.exp(-0.5 * (d / (0.125 * 33)) ** 2)
    assert w[4, 8, 0] == pytest.approx(max(expected, inferers.MIN_WEIGHT), rel=1e-5)
    assert w[4, 8, 4] == pytest.approx(np.exp(-0.5 * (12 / (0.125 * 33)) ** 2), rel=1e-5)
    assert w[0, 8, 16] == pytest.approx(np.exp(-0.5 * (4 / (0.125 * 9)) ** 2), rel=1e-4)
    assert np.allclose(w, w[::-1, ::-1, ::-1])  # symmetric about the centre
    assert w.min() >= inferers.MIN_WEIGHT


def test_window_starts_cover_the_axis():
    for size, patch in ((100, 32), (64, 32), (33, 32), (20, 32)):
        starts = inferers.window_starts(size, patch, 0.5)
        covered = np.zeros(max(size, patch), bool)
        for s in starts:
            covered[s:s + patch] = True
        assert covered[:size].all()
        assert max(starts) + patch == max(size, patch)


def test_sliding_window_equals_single_pass_for_pointwise_model():
    rng = np.random.default_rng(1)
    volume = rng.normal(size=(40, 37, 51)).astype(np.float32)
    net = _model(1)
    single = inferers.predict_probabilities(net, volume)
    sliding = inferers.predict_probabilities(net, volume, patch_size=(16, 16, 16),
                                             max_single_pass_voxels=0)
    assert single.shape == (3, 40, 37, 51)
    assert np.allclose(single.sum(axis=0), 1.0, atol=1e-5)
    assert np.abs(sliding - single).max() < 1e-5


def test_sliding_window_matches_single_pass_for_3x3x3_model():
    """Only voxels near window borders see different zero padding; Gaussian blending keeps the
    difference small and the argmax essentially unchanged."""
    rng = np.random.default_rng(2)
    volume = np.cumsum(rng.normal(size=(36, 40, 44)), axis=2).astype(np.float32) * 0.2
    net = _model(3)
    single = inferers.predict_probabilities(net, volume)
    sliding = inferers.predict_probabilities(net, volume, patch_size=(20, 20, 20), overlap=0.5,
                                             max_single_pass_voxels=0)
    diff = np.abs(sliding - single)
    assert diff.mean() < 2e-3
    assert np.mean(np.argmax(sliding, 0) == np.argmax(single, 0)) > 0.99
    # interior of the first window, far from its borders: identical
    assert np.abs(sliding[:, 2:8, 2:8, 2:8] - single[:, 2:8, 2:8, 2:8]).max() < 1e-5


def test_volume_smaller_than_patch_is_one_pass_and_padding_is_cropped():
    volume = np.zeros((10, 50, 12), np.float32)
    out = inferers.predict_probabilities(_model(1), volume, patch_size=(16, 16, 16))
    assert out.shape == (3, 10, 50, 12)


def test_device_choice():
    cpu = D.choose_device("cpu")
    assert cpu.name == "cpu" and "cpu" in cpu.description
    assert cpu.half == D.cpu_has_native_bf16()
    assert ("bfloat16" if cpu.half else "float32") in cpu.description
    auto = D.choose_device("auto")
    assert auto.name == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError):
        D.choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            D.choose_device("cuda")


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    flags = "processor\t: 0\nflags\t\t: fpu sse2 avx2 %s\n"
    for extra, native in (("avx512f", False), ("avx512f avx512_bf16", True), ("amx_bf16", True)):
        path = tmp_path / "cpuinfo"
        path.write_text(flags % extra)
        assert D.cpu_has_native_bf16(str(path)) is native
    assert D.cpu_has_native_bf16(str(tmp_path / "missing")) is False


def test_bf16_autocast_on_cpu_agrees_with_float32():
    """The CPU bfloat16 path gives probabilities within 0.05 of float32 and the same labels on
    all but a few voxels of a smooth input."""
    torch.manual_seed(0)
    model = _model(3)
    volume = np.linspace(-1, 1, 24 * 20 * 16, dtype=np.float32).reshape(24, 20, 16)
    full = inferers.predict_probabilities(model, volume, device="cpu", half=False)
    bf16 = inferers.predict_probabilities(model, volume, device="cpu", half=True)
    assert np.abs(full - bf16).max() < 0.05
    assert np.mean(full.argmax(0) == bf16.argmax(0)) > 0.99


def test_cuda_out_of_memory_falls_back_to_cpu_with_a_warning():
    calls = []

    def step(choice):
        calls.append(choice.name)
        if choice.name == "cuda":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return 42

    fake_cuda = D.DeviceChoice("cpu", "fake")
    fake_cuda.name = "cuda"
    warnings = []
    if torch.cuda.is_available():
        result, used = D.run_with_cpu_fallback(step, fake_cuda, warnings)
    else:
        original = torch.cuda.empty_cache
        torch.cuda.empty_cache = lambda: None
        try:
            result, used = D.run_with_cpu_fallback(step, fake_cuda, warnings)
        finally:
            torch.cuda.empty_cache = original
    assert result == 42 and used.name == "cpu" and calls == ["cuda", "cpu"]
    assert len(warnings) == 1 and "out of memory" in warnings[0]
    with pytest.raises(ValueError):
        D.run_with_cpu_fallback(lambda c: (_ for _ in ()).throw(ValueError("x")), fake_cuda, [])


def test_single_pass_when_the_volume_fits_in_memory():
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape[2:]))
            return torch.zeros((1, 2) + tuple(x.shape[2:]))

    volume = np.zeros((30, 40, 50), np.float32)
    inferers.predict_probabilities(Counting(), volume, patch_size=(16, 16, 16))
    assert calls == [(30, 40, 50)]
    calls[:] = []
    inferers.predict_probabilities(Counting(), volume, patch_size=(16, 16, 16),
                                   max_single_pass_voxels=30 * 40 * 50 - 1)
    assert len(calls) == 3 * 4 * 6 and set(calls) == {(16, 16, 16)}  # starts 0,8,14 / 0..24 / 0..34
