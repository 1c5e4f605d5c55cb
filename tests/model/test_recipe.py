"""The recipe: TrivialAugment (`augmentation_type=trivial`) op by op and per batch; the precision."""

from __future__ import annotations

import pytest
import torch

from scones.model.hyperparameters import parse
from scones.model.recipe import (
    TRIVIAL_OPS,
    TRIVIAL_WIDE,
    _equalize,
    _trivial_op,
    augment,
    native_bfloat16,
    trivial_augment,
)


@pytest.mark.parametrize("name", TRIVIAL_OPS[1:])
def test_each_operation_keeps_shape_and_range_and_changes_the_image(name: str) -> None:
    x = torch.rand(4, 3, 32, 32) * 0.6 + 0.2
    full = torch.ones(4)
    out = _trivial_op(name, x, full, full).clamp(0, 1)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out, x, atol=1e-3)


@pytest.mark.parametrize("name", ["brightness", "contrast", "color", "sharpness", "posterize", "rotate", "shear_x"])
def test_zero_magnitude_is_the_identity(name: str) -> None:
    x = torch.rand(3, 3, 32, 32)
    zero = torch.zeros(3)
    expected = torch.floor(x * 255) / 255 if name == "posterize" else x  # 8 bits kept: x's 8-bit levels
    assert torch.allclose(_trivial_op(name, x, zero, zero), expected, atol=1e-5)


def test_equalize_spreads_levels_over_the_full_range() -> None:
    x = torch.rand(2, 3, 32, 32) * 0.2 + 0.4  # a narrow band of levels
    out = _equalize(x)
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0
    # monotone: equalisation keeps the order of pixel values
    flat_x, flat_out = x[0, 0].flatten(), out[0, 0].flatten()
    order = torch.argsort(flat_x)
    assert bool((flat_out[order].diff() >= 0).all())


def test_one_operation_per_image_seeded_and_trivial_type_adds_cutout() -> None:
    x = torch.rand(64, 3, 32, 32)
    a = trivial_augment(x, torch.Generator().manual_seed(0))
    b = trivial_augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    unchanged = sum(torch.equal(a[i], x[i]) for i in range(64))
    assert 0 < unchanged < 32  # identity is 1 of 14 operations
    out = augment(x, parse({"augmentation_type": "trivial"}), torch.Generator().manual_seed(1))
    erased = (out == 0).all(dim=1).flatten(1).sum(1)
    assert out.shape == x.shape and bool((erased >= 36).all())  # a 12x12 cutout, clipped at the edges


def test_wide_ranges_go_further_and_trivial_wide_is_an_augmentation_type() -> None:
    x = torch.rand(4, 3, 32, 32)
    full = torch.ones(4)
    standard = _trivial_op("translate_x", x, full, full)
    wide = _trivial_op("translate_x", x, full, full, TRIVIAL_WIDE)
    assert torch.allclose(wide, torch.full_like(x, 0.5), atol=1e-5)  # moved a whole side: all fill
    assert not torch.allclose(standard, torch.full_like(x, 0.5), atol=1e-2)
    hp = parse({"augmentation_type": "trivial_wide"})
    a = augment(x, hp, torch.Generator().manual_seed(2))
    b = augment(x, hp.replace(augmentation_type="trivial"), torch.Generator().manual_seed(2))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1 and not torch.equal(a, b)


def test_native_bfloat16_probe_answers_without_raising() -> None:
    assert isinstance(native_bfloat16(), bool)


def test_class_weights_make_each_class_count_equally() -> None:
    from scones.model.recipe import class_weights

    weights = class_weights(torch.tensor([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])  # N / (k * count); absent class: 0
    assert class_weights(torch.tensor([0, 1, 0, 1]), 2).tolist() == [1.0, 1.0]


def test_random_resized_crop_zooms_inside_the_image_and_is_seeded() -> None:
    from scones.model.recipe import augment, random_resized_crop

    x = torch.zeros(16, 3, 64, 48)
    x[:, :, 16:48, 12:36] = 1.0  # a bright centre: a zoomed crop shows more of it than the whole image does
    out = random_resized_crop(x, torch.Generator().manual_seed(1))
    again = random_resized_crop(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and torch.equal(out, again)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert float(out.mean()) > float(x.mean())  # crops of 35-100% of the area, scaled back up: the centre grows
    whole = random_resized_crop(x, torch.Generator().manual_seed(1), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(whole, x, atol=1e-5)  # the whole image, unchanged
    hp = parse({"augmentation_type": "crop", "random_resized_crop": "1", "image_shape": "3,64,48"})
    seeded = augment(x, hp, torch.Generator().manual_seed(2))
    plain = augment(x, parse({"augmentation_type": "crop", "image_shape": "3,64,48"}), torch.Generator().manual_seed(2))
    assert seeded.shape == x.shape and not torch.equal(seeded, plain)
