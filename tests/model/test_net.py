from __future__ import annotations

import pytest
import torch

from scones.model.net import SMALL_IMAGE_DEPTHS, Exported, NetConfig, ResNet, build


@pytest.mark.parametrize("depth", SMALL_IMAGE_DEPTHS)
def test_sagemaker_small_image_depths(depth: int) -> None:
    net = ResNet(NetConfig(num_layers=depth, width=4))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == depth  # 3x3 convolutions plus the final linear layer


def test_logits_and_embedding_shapes() -> None:
    net = build(NetConfig(num_layers=8, width=8, num_classes=3), seed=0).eval()
    x = torch.randn(5, 3, 32, 32)
    assert net(x).shape == (5, 3)
    assert net.embed(x).shape == (5, 32) == (5, net.config.embedding_dim)
    assert torch.allclose(net.head(net.embed(x)), net(x))


def test_build_is_deterministic_for_a_seed_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a, b, c = build(NetConfig(), 1), build(NetConfig(), 1), build(NetConfig(), 2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_bad_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="6n\\+2"):
        ResNet(NetConfig(num_layers=21))


def test_exported_averages_the_mirror_and_applies_temperature() -> None:
    net = build(NetConfig(num_layers=8, width=4), 0).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        probabilities, embedding = Exported(net, temperature=2.0).eval()(x)
        logits = (net(x) + net(torch.flip(x, dims=[3]))) / 2
    assert torch.allclose(probabilities, torch.softmax(logits / 2.0, dim=1), atol=1e-6)
    assert torch.allclose(embedding, (net.embed(x) + net.embed(torch.flip(x, dims=[3]))) / 2, atol=1e-6)
    mirrored, _ = Exported(net).eval()(torch.flip(x, dims=[3]))
    plain, _ = Exported(net).eval()(x)
    assert torch.allclose(mirrored, plain, atol=1e-6)  # flip-averaged: a mirror image gets the same answer
