"""The training recipe: SageMaker's augmentation types, optimisers and learning-rate schedules.

Each maps a hyperparameter to its PyTorch meaning; `scones.model.train` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scones.model.hyperparameters import Hyperparameters


def augment(x: torch.Tensor, hp: Hyperparameters, generator: torch.Generator) -> torch.Tensor:
    """SageMaker's augmentation_type on a batch in [0, 1]: crop (+ color (+ transform = cutout)).

    scones' `trivial`: crop, then one TrivialAugment operation per image, then cutout;
    `trivial_wide` the same with TrivialAugment's wider ranges.
    """
    if hp.augmentation_type == "none":
        return x
    n, _, height, width = x.shape
    if hp.random_resized_crop:
        x = random_resized_crop(x, generator)
    else:
        pad = 4  # random crop of the image padded by 4 (mirrored) pixels, then a random mirror
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(height))[:, None, :, None]  # (N, 1, H, 1)
        cols = (dx[:, None] + torch.arange(width))[:, None, None, :]  # (N, 1, 1, W)
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    mirror = torch.rand(n, generator=generator) < 0.5
    x = torch.where(mirror[:, None, None, None], torch.flip(x, dims=[3]), x)
    if hp.augmentation_type in ("trivial", "trivial_wide"):
        x = trivial_augment(x, generator, TRIVIAL_WIDE if hp.augmentation_type == "trivial_wide" else TRIVIAL)
    if hp.augmentation_type in ("crop_color", "crop_color_transform"):
        # brightness, contrast and saturation, each scaled by a factor in [0.8, 1.2]
        factors = 0.8 + 0.4 * torch.rand(3, n, 1, 1, 1, generator=generator)
        x = x * factors[0]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factors[1] + mean
        grey = x.mean(dim=1, keepdim=True)
        x = ((x - grey) * factors[2] + grey).clamp(0, 1)
    if hp.augmentation_type == "crop_color_transform" and hp.warp:
        x = warp(x, generator)
    if hp.augmentation_type in ("crop_color_transform", "trivial", "trivial_wide") and hp.cutout:
        cy = torch.randint(0, height, (n,), generator=generator)
        cx = torch.randint(0, width, (n,), generator=generator)
        half = hp.cutout / 2
        inside_y = ((torch.arange(height)[None, :] - cy[:, None]).abs() < half)[:, :, None]
        inside_x = ((torch.arange(width)[None, :] - cx[:, None]).abs() < half)[:, None, :]
        x = x * (~(inside_y & inside_x))[:, None].to(x.dtype)
    return x


# TrivialAugment (Mueller & Hutter 2021): each image gets ONE operation drawn uniformly from this
# list, at a magnitude drawn uniformly from [0, max]; no tuned policy, no search. `TRIVIAL` has
# RandAugment's standard ranges, `TRIVIAL_WIDE` TrivialAugment's wider ones (its best on CIFAR),
# both scaled to 32x32 images; geometric operations fill with mid-grey.
TRIVIAL_OPS = (
    "identity",
    "brightness",
    "contrast",
    "color",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
    "rotate",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)


@dataclass(frozen=True)
class TrivialRanges:
    """The largest magnitude of each TrivialAugment operation."""

    enhance: float  # brightness/contrast/color/sharpness: blend factor 1 +/- up to this
    rotate: float  # radians
    shear: float
    translate: float  # share of the image side
    posterize: float  # bits dropped, of 8


TRIVIAL = TrivialRanges(enhance=0.9, rotate=math.radians(30), shear=0.3, translate=1 / 3, posterize=4)
TRIVIAL_WIDE = TrivialRanges(enhance=0.99, rotate=math.radians(135), shear=0.99, translate=1.0, posterize=6)


def trivial_augment(x: torch.Tensor, generator: torch.Generator, ranges: TrivialRanges = TRIVIAL) -> torch.Tensor:
    """One random TrivialAugment operation per image of a batch in [0, 1], at a random magnitude.

    Vectorised: the images that drew the same operation are transformed together, so a batch
    costs at most one call per operation (cheap next to a training step on the CPU).
    """
    n = x.shape[0]
    op = torch.randint(0, len(TRIVIAL_OPS), (n,), generator=generator)
    magnitude = torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    signed = magnitude * sign
    out = x.clone()
    for k, name in enumerate(TRIVIAL_OPS):
        chosen = (op == k).nonzero().flatten()
        if name == "identity" or len(chosen) == 0:
            continue
        out[chosen] = _trivial_op(name, x[chosen], magnitude[chosen], signed[chosen], ranges).clamp(0, 1)
    return out


def _trivial_op(
    name: str, x: torch.Tensor, magnitude: torch.Tensor, signed: torch.Tensor, ranges: TrivialRanges = TRIVIAL
) -> torch.Tensor:
    """One operation on images in [0, 1]; `magnitude` in [0, 1], `signed` the same with a random sign."""
    m = signed.view(-1, 1, 1, 1) * ranges.enhance
    if name == "brightness":
        return x * (1 + m)
    if name == "contrast":
        mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
        return _blend(mean, x, 1 + m)
    if name == "color":
        return _blend(_grey(x), x, 1 + m)
    if name == "sharpness":
        # PIL's SMOOTH kernel (centre 5, neighbours 1, / 13); the border pixels are left alone
        smooth = x.clone()
        smooth[:, :, 1:-1, 1:-1] = (F.avg_pool2d(x, 3, stride=1) * 9 + 4 * x[:, :, 1:-1, 1:-1]) / 13
        return _blend(smooth, x, 1 + m)
    if name == "posterize":
        step = torch.exp2((magnitude * ranges.posterize).round()).view(-1, 1, 1, 1)  # drop up to that many bits
        return torch.floor(x * 255 / step) * step / 255
    if name == "solarize":
        threshold = (1 - magnitude).view(-1, 1, 1, 1)  # invert the pixels above it
        return torch.where(x >= threshold, 1 - x, x)
    if name == "autocontrast":
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        return torch.where(high > low, (x - low) / (high - low).clamp_min(1e-6), x)
    if name == "equalize":
        return _equalize(x)
    theta = torch.zeros(len(x), 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    s = signed
    if name == "rotate":
        angle = s * ranges.rotate
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    elif name == "shear_x":
        theta[:, 0, 1] = s * ranges.shear
    elif name == "shear_y":
        theta[:, 1, 0] = s * ranges.shear
    elif name == "translate_x":
        theta[:, 0, 2] = s * ranges.translate * 2  # affine_grid's coordinates span [-1, 1]
    elif name == "translate_y":
        theta[:, 1, 2] = s * ranges.translate * 2
    else:
        raise ValueError(f"unknown TrivialAugment operation {name}")
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Sample x - 0.5 with zero padding: the area moved in from outside the image is mid-grey.
    return F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


def _grey(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _blend(base: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: factor 0 gives `base`, 1 gives `x`, above 1 extrapolates away from base."""
    return base + factor * (x - base)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel (256 levels), via the cumulative histogram."""
    n, c, h, w = x.shape
    levels = (x * 255).round().long().clamp(0, 255).reshape(n * c, h * w)
    histogram = torch.zeros(n * c, 256, dtype=x.dtype).scatter_add_(1, levels, torch.ones_like(levels, dtype=x.dtype))
    cdf = histogram.cumsum(1)
    cdf_min = torch.where(histogram > 0, cdf, torch.full_like(cdf, float(h * w))).amin(1, keepdim=True)
    mapped = (cdf - cdf_min) / (h * w - cdf_min).clamp_min(1)
    return mapped.gather(1, levels).view(n, c, h, w)


def warp(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SageMaker's `transform`: rotation up to 10 degrees, shear up to 0.1, aspect ratio changed up to 25%."""
    n = x.shape[0]
    u = torch.rand(3, n, generator=generator) * 2 - 1  # each in [-1, 1]
    angle, shear, aspect = u[0] * math.radians(10), u[1] * 0.1, 1 + u[2] * 0.25
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx, sy = torch.sqrt(aspect), 1 / torch.sqrt(aspect)
    # rotation @ shear @ aspect scaling, as the 2x3 matrices affine_grid takes (no translation)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * sx
    theta[:, 0, 1] = (cos * shear - sin) * sy
    theta[:, 1, 0] = sin * sx
    theta[:, 1, 1] = (sin * shear + cos) * sy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def mix(
    x: torch.Tensor, y: torch.Tensor, hp: Hyperparameters, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix (`mix`), per image with a partner from the same batch: images and soft targets.

    Each image keeps a share lambda ~ U(0, 1) (Beta(1, 1)) of itself: blended pixels (mixup) or
    all but a box of (1 - lambda) of its area pasted from the partner (cutmix). Its target is
    lambda of its label plus (1 - lambda) of the partner's; "none" returns one-hot targets.
    """
    target = F.one_hot(y, hp.num_classes).to(x.dtype)
    if hp.mix == "none":
        return x, target
    n, _, height, width = x.shape
    partner = torch.randperm(n, generator=generator)
    share = torch.rand(n, generator=generator)
    if hp.mix == "mixup":
        keep = share.view(n, 1, 1, 1)
        x = keep * x + (1 - keep) * x[partner]
    else:
        side = torch.sqrt(1 - share)
        cy = torch.rand(n, generator=generator) * height
        cx = torch.rand(n, generator=generator) * width
        half_h, half_w = (side * height / 2)[:, None], (side * width / 2)[:, None]
        inside_y = ((torch.arange(height)[None, :] + 0.5 - cy[:, None]).abs() < half_h)[:, :, None]
        inside_x = ((torch.arange(width)[None, :] + 0.5 - cx[:, None]).abs() < half_w)[:, None, :]
        box = (inside_y & inside_x)[:, None]  # (N, 1, H, W)
        x = torch.where(box, x[partner], x)
        share = 1 - box.flatten(1).float().mean(1)  # the area actually kept (boxes are clipped at edges)
    keep = share.view(n, 1).to(x.dtype)
    return x, keep * target + (1 - keep) * target[partner]


def random_resized_crop(
    x: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Per image: a random crop of `scale` of the area at an aspect in `ratio`, inside the image, scaled back to H x W.

    One batched affine resampling (bilinear), so the batch never leaves the tensor; (N, C, H, W) in and out.
    """
    n = x.shape[0]
    area = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator)
    low, high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(low + (high - low) * torch.rand(n, generator=generator))
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # the crop's share of the width (and below, the height)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    # Centres in [-1, 1] coordinates, chosen so the crop stays inside the image.
    cx = (1 - w) * (2 * torch.rand(n, generator=generator) - 1)
    cy = (1 - h) * (2 * torch.rand(n, generator=generator) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """SageMaker's use_weighted_loss: class c weighs N / (k * count_c), so each class adds the same to the loss.

    A class with no training image gets weight 0 (nothing to weigh). Balanced data gives all ones.
    """
    counts = torch.bincount(labels, minlength=num_classes).float()
    weights = torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights


def make_optimizer(net: torch.nn.Module, hp: Hyperparameters, backbone_scale: float = 1.0) -> torch.optim.Optimizer:
    """Parameter groups by weight decay and by part; each group's `lr_scale` multiplies the scheduled rate.

    The head always learns at the full rate; the rest at `backbone_scale` (below 1 when fine-tuning).
    """
    # Weight decay on weights only: decaying BatchNorm scales and biases only hurts.
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]  # airbench's whitening filters are fixed
    groups = []
    for head in (False, True):
        part = [(n, p) for n, p in named if (n.startswith("head.") or ".head." in n) == head]
        scale = 1.0 if head else backbone_scale
        decay = [p for _, p in part if p.ndim > 1]
        rest = [p for _, p in part if p.ndim <= 1]
        groups += [
            {"params": decay, "weight_decay": hp.weight_decay, "lr_scale": scale, "lr": hp.learning_rate * scale},
            {"params": rest, "weight_decay": 0.0, "lr_scale": scale, "lr": hp.learning_rate * scale},
        ]
    groups = [g for g in groups if g["params"]]
    if hp.optimizer == "adam":
        return torch.optim.AdamW(groups, lr=hp.learning_rate)
    if hp.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=hp.learning_rate, momentum=hp.momentum)
    return torch.optim.SGD(groups, lr=hp.learning_rate, momentum=hp.momentum, nesterov=hp.optimizer == "nag")


def training_size(hp: Hyperparameters, epoch: int) -> tuple[int, int] | None:
    """progressive_resizing: the side the first half of the epochs train at (3/4 of image_shape's); else None.

    Smaller images early make those epochs cheaper (the coarse features are learnt as well at low
    resolution), and the second half at full size fits the size that validation and serving see.
    """
    if not hp.progressive_resizing or epoch >= hp.epochs // 2:
        return None
    _, height, width = hp.shape
    return max(8, round(height * 0.75)), max(8, round(width * 0.75))


def lr_multiplier(hp: Hyperparameters, steps_per_epoch: int) -> Callable[[int], float]:
    """Learning-rate multiplier per step: SageMaker's step decay if lr_scheduler_step, else warmup + cosine."""
    if hp.lr_steps:
        boundaries = [s * steps_per_epoch for s in hp.lr_steps]
        return lambda step: hp.lr_scheduler_factor ** sum(step >= b for b in boundaries)
    total = hp.epochs * steps_per_epoch
    warmup = min(hp.warmup_epochs * steps_per_epoch, total // 2)

    def cosine(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return cosine


def native_bfloat16() -> bool:
    """Whether the CPU has bfloat16 instructions (AMX or AVX512-BF16); elsewhere bfloat16 is emulated, slower."""
    # torch.cpu's probes are private (no public one exists in torch 2.13): absent means no.
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)
