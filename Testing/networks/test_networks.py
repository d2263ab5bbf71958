"""Networks: shapes for odd sizes, configs, train/eval equality, batch independence, a tiny training run."""

import numpy as np
import pytest
import torch

from NegativeVolumeSegmentationLib.training import losses, metrics
from NegativeVolumeSegmentationLib.errors import InputError
from NegativeVolumeSegmentationLib.networks import (SMALL, build_network, count_parameters, network_names)
from NegativeVolumeSegmentationLib.networks.blocks import pad_to_multiple

torch.set_num_threads(1)

TINY = dict(base_channels=4, depth=3)


def test_registry_lists_the_three_networks():
    assert set(network_names()) == {"vnet", "unet3d", "attention_unet"}


@pytest.mark.parametrize("name", ["vnet", "unet3d", "attention_unet"])
def test_odd_input_sizes_give_logits_of_the_same_size(name):
    torch.manual_seed(0)
    net = build_network(name, **TINY)
    for shape in [(1, 1, 37, 41, 29), (2, 1, 8, 9, 17)]:
        with torch.no_grad():
            out = net(torch.randn(*shape))
        assert tuple(out.shape) == (shape[0], 3) + shape[2:]
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["vnet", "unet3d", "attention_unet"])
def test_train_and_eval_give_identical_outputs_and_batches_do_not_mix(name):
    torch.manual_seed(1)
    net = build_network(name, **TINY)
    x = torch.randn(2, 1, 19, 16, 21)
    with torch.no_grad():
        net.train()
        trained = net(x)
        net.eval()
        evaluated = net(x)
        alone = net(x[1:])
    assert torch.equal(trained, evaluated)
    # GroupNorm: a sample's logits do not depend on the rest of the batch (BatchNorm's would)
    assert torch.allclose(alone, evaluated[1:], atol=1e-5)


def test_batch_norm_and_bad_hyper_parameters_are_refused():
    with pytest.raises(InputError, match="BatchNorm"):
        build_network("vnet", norm="batch")
    with pytest.raises(InputError, match="unknown network"):
        build_network("resnet")
    with pytest.raises(InputError, match="does not take"):
        build_network("unet3d", kernel=3)
    with pytest.raises(InputError, match="odd"):
        build_network("vnet", kernel_size=4)
    with pytest.raises(InputError):
        build_network("attention_unet", depth=0)
    with pytest.raises(InputError):
        build_network("unet3d", upsample="cubic")


def test_parameters_follow_the_configuration():
    counts = {}
    for name in network_names():
        for base in (4, 8):
            for depth in (2, 3):
                counts[(name, base, depth)] = count_parameters(
                    build_network(name, base_channels=base, depth=depth))
    assert len(set(counts.values())) == len(counts)
    # attention gates add parameters to the same U-Net
    assert counts[("attention_unet", 4, 3)] > counts[("unet3d", 4, 3)]
    # V-Net convolutions scale as kernel_size**3: 3 -> 5 multiplies the count by about 125/27
    k3 = count_parameters(build_network("vnet", base_channels=4, depth=3, kernel_size=3))
    k5 = count_parameters(build_network("vnet", base_channels=4, depth=3, kernel_size=5))
    assert 3.5 < k5 / k3 < 125 / 27


def test_vnet_structure_and_sizes():
    with torch.device("meta"):  # counts without allocating the paper-size network
        paper = build_network("vnet", base_channels=16, depth=4, kernel_size=5)
        small = build_network("vnet", **SMALL["vnet"])
    n_paper, n_small = count_parameters(paper), count_parameters(small)
    print("V-Net parameters: paper width %d, bundled small %d (%.1f MB float32)"
          % (n_paper, n_small, 4e-6 * n_small))
    assert 30e6 < n_paper < 80e6
    assert n_small < 4.0e6  # < 16 MB of float32 weights
    # 1, 2, 3, 3 convolutions in encoder levels 1..4 (level 0 is the input stage); decoder mirrors
    assert [len(stage.stage.convs) for stage in small.down] == [2, 3, 3, 3]
    assert [len(stage.stage.convs) for stage in small.up] == [3, 3, 2, 1]
    convs = [m for m in small.modules() if isinstance(m, torch.nn.Conv3d) and m.stride == (2, 2, 2)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128]  # channels double when going down
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in small.modules())


def test_config_rebuilds_an_identical_network():
    net = build_network("attention_unet", base_channels=4, depth=2, upsample="nearest")
    again = build_network(**net.config())
    again.load_state_dict(net.state_dict())
    x = torch.randn(1, 1, 12, 10, 9)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))
    assert net.config()["hyper"]["upsample"] == "nearest"


def test_attention_coefficients_lie_in_unit_interval():
    net = build_network("attention_unet", **TINY)
    with torch.no_grad():
        net(torch.randn(1, 1, 17, 15, 13))
    maps = net.attention_maps
    assert len(maps) == 3 and tuple(maps[-1].shape) == (1, 1, 24, 16, 16)
    assert all(float(m.min()) > 0.0 and float(m.max()) < 1.0 for m in maps)


def test_padding_is_centred_and_cropped_back():
    x = torch.arange(5.0).reshape(1, 1, 5, 1, 1)
    padded, crop = pad_to_multiple(x, 4)
    assert padded.shape[2:] == (8, 4, 4)
    assert torch.equal(padded[crop], x)
    assert padded[0, 0, :, 0, 0].tolist() == [0, 0, 1, 2, 3, 4, 4, 4]  # replicate, 1 before, 2 after


def sphere_in_noise(rng, size=24):
    """A bright ball (class 1) and a dark shell cap (class 2) in Gaussian noise, random centre."""
    z, y, x = np.mgrid[:size, :size, :size].astype(float)
    c = rng.uniform(9, size - 9, 3)
    r = np.sqrt((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2)
    labels = np.zeros((size,) * 3, np.int64)
    labels[r <= 5] = 1
    labels[(r > 6.5) & (r <= 8.5) & (z > c[0] + 2)] = 2
    image = rng.normal(0, 0.5, labels.shape) + (labels == 1) * 1.5 - (labels == 2) * 1.5
    return torch.tensor(image, dtype=torch.float32)[None], torch.tensor(labels)


@pytest.mark.parametrize("name", ["vnet", "unet3d"])
def test_tiny_training_run_lowers_the_loss(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = build_network(name, base_channels=4, depth=2)
    loss_fn = losses.SegmentationLoss("dice_ce")
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    samples = [sphere_in_noise(rng) for _ in range(4)]
    images = torch.stack([s[0] for s in samples])
    targets = torch.stack([s[1] for s in samples])
    history = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = loss_fn(net(images), targets)
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    assert np.mean(history[-5:]) < 0.5 * np.mean(history[:3])
    test_image, test_labels = sphere_in_noise(np.random.default_rng(99))
    net.eval()
    with torch.no_grad():
        predicted = net(test_image[None]).argmax(1)[0].numpy()
    dice_ball = metrics.dice_percent(predicted == 1, test_labels.numpy() == 1)
    print("%s: loss %.3f -> %.3f, unseen ball Dice %.1f %%" % (name, history[0], history[-1], dice_ball))
    assert dice_ball > 80.0
