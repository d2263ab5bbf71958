"""Checkpoints: round trip with metadata, float16 storage, sha256 (standard test vector), errors."""

import hashlib
import os

import pytest
import torch

from NegativeVolumeSegmentationLib import __version__
from NegativeVolumeSegmentationLib.inference import checkpoint
from NegativeVolumeSegmentationLib.errors import ModelError
from NegativeVolumeSegmentationLib.networks import build_network

torch.set_num_threads(1)

META = {
    "label_names": ["background", "mandibular condyle", "temporal bone"],
    "target_spacing_mm": [0.5, 0.5, 0.5],
    "intensity": {"clip_hu": [-1000, 3000], "scale": 1.0 / 1000},
    "training_data": "unit test: random weights, no data",
    "metrics": {"condyle_dice_percent": 0.0},
}


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    torch.manual_seed(0)
    net = build_network("vnet", base_channels=4, depth=2, kernel_size=3)
    path = str(tmp_path / "model.pt")
    import numpy as np
    digest = checkpoint.save_checkpoint(path, net, dict(META, extra={"mean_hu": np.float64(12.5),
                                                                  "window": np.array([1, 2])}))
    assert digest == hashlib.sha256(open(path, "rb").read()).hexdigest()
    loaded, meta = checkpoint.load_checkpoint(path, expected_sha256=digest)
    x = torch.randn(1, 1, 9, 10, 11)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), loaded(x))
    assert not loaded.training
    assert meta["network"] == {"name": "vnet", "hyper": net.config()["hyper"]}
    assert meta["label_names"] == META["label_names"] and meta["intensity"] == META["intensity"]
    assert meta["library_version"] == __version__ and meta["weights_dtype"] == "float32"
    assert meta["parameters"] == sum(p.numel() for p in net.parameters())
    assert checkpoint.read_metadata(path)["training_data"] == META["training_data"]
    assert meta["extra"] == {"mean_hu": 12.5, "window": [1, 2]}  # numpy stored as plain numbers


def test_half_precision_storage_halves_the_file(tmp_path):
    torch.manual_seed(0)
    net = build_network("unet3d", base_channels=8, depth=2)
    full, half = str(tmp_path / "full.pt"), str(tmp_path / "half.pt")
    checkpoint.save_checkpoint(full, net, META)
    checkpoint.save_checkpoint(half, net, META, half=True)
    import os
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    loaded, meta = checkpoint.load_checkpoint(half)
    assert meta["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), loaded(x), atol=1e-2)


def test_sha256_matches_the_standard_test_vector(tmp_path):
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")  # FIPS 180-2 test vector
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert checkpoint.sha256_of(str(path)) == expected
    assert checkpoint.verify_sha256(str(path), expected.upper()) == expected
    with pytest.raises(ModelError, match="sha256"):
        checkpoint.verify_sha256(str(path), "0" * 64)


def test_bad_files_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        checkpoint.load_checkpoint(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelError, match="cannot read"):
        checkpoint.load_checkpoint(str(junk))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, str(other))
    with pytest.raises(ModelError, match="not an nvseg checkpoint"):
        checkpoint.load_checkpoint(str(other))
    # metadata that no longer matches the weights
    net = build_network("unet3d", base_channels=4, depth=2)
    path = str(tmp_path / "model.pt")
    checkpoint.save_checkpoint(path, net, META)
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["network"]["hyper"]["base_channels"] = 8
    torch.save(payload, path)
    with pytest.raises(ModelError, match="do not match"):
        checkpoint.load_checkpoint(path)
    payload["metadata"]["network"]["name"] = "transformer"
    torch.save(payload, path)
    with pytest.raises(ModelError, match="cannot build"):
        checkpoint.load_checkpoint(path)


def test_incomplete_metadata_is_refused(tmp_path):
    net = build_network("vnet", base_channels=4, depth=2, kernel_size=3)
    path = str(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="training_data"):
        checkpoint.save_checkpoint(path, net, {k: v for k, v in META.items() if k != "training_data"})
    with pytest.raises(ValueError, match="label_names"):
        checkpoint.save_checkpoint(path, net, dict(META, label_names=["background", "condyle"]))
    import os
    assert not os.path.exists(path)


def test_a_model_folder_named_by_the_environment_is_used_or_refused(tmp_path, monkeypatch):
    """NVSEG_MODEL_DIR set to a folder without models: the run is refused naming it (the bundled
    models were used instead, without a word, while the help says the variable's folder is);
    unset: the bundled models' folder."""
    from NegativeVolumeSegmentationLib.inference import models

    monkeypatch.delenv("NVSEG_MODEL_DIR", raising=False)
    bundled = models.default_model_dir()
    assert os.path.isfile(os.path.join(bundled, models.MODEL_FILES["segmentation"]))
    monkeypatch.setenv("NVSEG_MODEL_DIR", str(tmp_path))
    assert models.default_model_dir() == str(tmp_path)
    with pytest.raises(ModelError, match=str(tmp_path)):
        models.load_models(models.default_model_dir())


def test_load_models_on_an_unavailable_or_unknown_device_says_so_in_one_line(monkeypatch):
    """The console's load_models(device="cuda") on a machine without CUDA raised torch's bare
    "AssertionError: Torch not compiled with CUDA enabled" (and "gpu" a RuntimeError), where
    nvseg run --device cuda says why in one line."""
    import torch

    from NegativeVolumeSegmentationLib.errors import InputError
    from NegativeVolumeSegmentationLib.inference import models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA device is available"):
        models.load_models(device="cuda")
    with pytest.raises(InputError, match="device must be one of"):
        models.load_models(device="gpu")


def test_a_model_in_the_other_models_place_is_refused(tmp_path):
    """A model folder (--model-dir) whose tmj_localizer.pt is the segmentation model ran without
    a word (a review; its localiser output read as joint probabilities); each model's recorded
    task must be its place's."""
    import shutil

    from NegativeVolumeSegmentationLib.inference import models

    bundled = models.default_model_dir()
    seg = models.MODEL_FILES["segmentation"]
    loc = models.MODEL_FILES["localizer"]
    shutil.copy(os.path.join(bundled, seg), str(tmp_path / seg))
    shutil.copy(os.path.join(bundled, seg), str(tmp_path / loc))
    digest = checkpoint.sha256_of(str(tmp_path / seg))
    (tmp_path / models.CHECKSUMS).write_text("%s  %s\n%s  %s\n" % (digest, seg, digest, loc))
    with pytest.raises(ModelError, match="is a segmentation model, in the place of the "
                                         "localizer model"):
        models.load_models(str(tmp_path))
