from __future__ import annotations

import pytest
import torch

from scones.model.net import (
    SMALL_IMAGE_DEPTHS,
    AirNet,
    Ensemble,
    Exported,
    NetConfig,
    ResNet,
    build,
    downsample_for,
    fold,
    views,
)


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


def test_airbench_shapes_and_frozen_whitening() -> None:
    config = NetConfig(width=8, num_classes=3, architecture="airbench")
    net = build(config, seed=0)
    assert isinstance(net, AirNet)
    x = torch.randn(6, 3, 32, 32)
    net.prepare(x)
    net.eval()
    assert net(x).shape == (6, 3) and net.embed(x).shape == (6, 32) == (6, config.embedding_dim)
    assert not net.whiten.weight.requires_grad and net.whiten.bias is not None and net.whiten.bias.requires_grad
    assert not any(m.weight.requires_grad for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_airbench_whitening_decorrelates_patches() -> None:
    net = build(NetConfig(width=4, architecture="airbench"), seed=0)
    mix = torch.tensor([[1.0, 0.9, 0.8], [0.0, 0.4, 0.3], [0.0, 0.0, 0.2]])  # strongly correlated channels
    x = torch.einsum("ij,njhw->nihw", mix, torch.randn(64, 3, 32, 32))
    net.prepare(x)
    with torch.no_grad():
        out = net.whiten(x) - net.whiten.bias.view(1, -1, 1, 1)  # type: ignore[union-attr]
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = half.T @ half / len(half)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)


def test_views_weights_sum_to_one_and_shifts_move_one_pixel() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    for flip in (False, True):
        for shift in (False, True):
            parts = views(x, flip, shift)
            assert abs(sum(w for _, w in parts) - 1) < 1e-9
            assert len(parts) == (2 if flip else 1) * (3 if shift else 1)
    down_right = views(x, flip=False, shift=True)[1][0]
    assert torch.equal(down_right[:, :, 1:, 1:], x[:, :, :-1, :-1])


def test_ensemble_averages_independent_members() -> None:
    net = build(NetConfig(width=4, architecture="airbench", members=3), seed=0)
    assert isinstance(net, Ensemble) and len(net.nets) == 3
    x = torch.randn(4, 3, 32, 32)
    net.prepare(x)
    net.eval()
    first, second = (list(m.parameters()) for m in net.nets[:2])
    assert not torch.equal(first[-1], second[-1])  # different initial weights
    with torch.no_grad():
        members = net.member_logits(x)
        assert torch.allclose(net(x), torch.stack(members).mean(0), atol=1e-6)
        assert net.embed(x).shape == (4, 48) == (4, net.config.embedding_dim)


def test_airbench_whitening_stays_float32_under_bfloat16_autocast() -> None:
    net = AirNet(NetConfig(architecture="airbench", width=8))
    net.prepare(torch.rand(16, 3, 32, 32))
    seen: list[torch.dtype] = []
    net.groups[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(torch.rand(2, 3, 32, 32))
    assert seen == [torch.float32]  # the whitened stem; the conv groups then run in bfloat16
    assert logits.dtype == torch.bfloat16


@pytest.mark.parametrize(("side", "factor"), [(8, 1), (32, 1), (63, 1), (64, 2), (96, 2), (127, 2), (128, 4), (224, 4)])
def test_larger_images_fold_down_to_32_to_63_pixels(side: int, factor: int) -> None:
    assert downsample_for(side, side) == factor
    assert downsample_for(side, 32) == 1  # the shorter side decides


def test_fold_is_lossless_and_pads_sides_it_does_not_divide() -> None:
    x = torch.randn(2, 3, 64, 64)
    folded = fold(x, 2)
    assert folded.shape == (2, 12, 32, 32)
    assert torch.equal(torch.nn.functional.pixel_shuffle(folded, 2), x)  # every pixel kept, only rearranged
    odd = fold(torch.randn(2, 3, 99, 97), 2)
    assert odd.shape == (2, 12, 50, 49)
    assert fold(x, 1) is x


@pytest.mark.parametrize("architecture", ["resnet", "airbench"])
def test_a_folded_net_runs_at_32_pixels_inside(architecture: str) -> None:
    small = build(NetConfig(num_layers=8, width=4, architecture=architecture), 0)  # type: ignore[arg-type]
    large = build(NetConfig(num_layers=8, width=4, architecture=architecture, downsample=2), 0)  # type: ignore[arg-type]
    x = torch.randn(4, 3, 64, 64)
    large.prepare(x)
    large.eval()
    assert large(x).shape == (4, 2) and large.embed(x).shape == (4, large.config.embedding_dim)
    first = next(m for m in large.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 12  # 2x2 pixels of 3 channels
    seen: list[tuple[int, ...]] = []
    body = large.groups[0] if isinstance(large, AirNet) else large.stages[0]
    body.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[2:])))
    large(x)
    assert seen[0][0] <= 32  # the body sees 32x32 (31x31 after the whitening's 2x2 patches), not 64x64
    # Only the first layer's input differs from the 32x32 net: the rest has the same shapes.
    differ = [k for k, v in large.state_dict().items() if v.shape != small.state_dict()[k].shape]
    assert differ == (["whiten.weight"] if architecture == "airbench" else ["stem.0.weight"])


def test_folded_whitening_keeps_the_12_directions_of_most_variance() -> None:
    net = build(NetConfig(width=4, architecture="airbench", downsample=2), seed=0)
    x = torch.nn.functional.interpolate(
        torch.randn(64, 3, 32, 32), scale_factor=2, mode="bilinear"
    )  # smooth, as upscaled
    net.prepare(x)
    assert net.whiten.weight.shape == (24, 12, 2, 2)  # 12 of the folded patch's 48 directions, +/-
    with torch.no_grad():
        out = net.whiten(fold(x, 2)) - net.whiten.bias.view(1, -1, 1, 1)  # type: ignore[union-attr]
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    assert torch.allclose(half.T @ half / len(half), torch.eye(12), atol=0.05)  # still white
    patches = fold(x, 2).unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 48)
    total = patches.var(dim=0).sum()
    kept = torch.linalg.eigvalsh(torch.cov(patches.T.double()))[-12:].sum()
    assert kept / total > 0.9  # the kept directions carry most of a smooth image's variance


def test_patch_covariance_in_chunks_is_the_covariance_of_all_patches() -> None:
    x = torch.randn(40, 12, 9, 7)
    whole = fold(x, 1).unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 48).double()
    expected = whole.T @ whole / len(whole)
    one_image_at_a_time = AirNet.patch_covariance(x, budget=1)  # far below one image's patches: chunks of 1
    assert torch.allclose(one_image_at_a_time, expected, atol=1e-10)
    assert torch.allclose(AirNet.patch_covariance(x), expected, atol=1e-10)
