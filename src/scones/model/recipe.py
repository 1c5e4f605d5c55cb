"""The training recipe: SageMaker's augmentation types, optimisers and learning-rate schedules.

Each maps a hyperparameter to its PyTorch meaning; `scones.model.train` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from scones.model.hyperparameters import Hyperparameters


def augment(x: torch.Tensor, hp: Hyperparameters, generator: torch.Generator) -> torch.Tensor:
    """SageMaker's augmentation_type on a batch in [0, 1]: crop (+ color (+ transform = cutout))."""
    if hp.augmentation_type == "none":
        return x
    n, _, height, width = x.shape
    pad = 4  # random crop of the image padded by 4 (mirrored) pixels, then a random mirror
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]  # (N, 1, 1, W)
    x = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    mirror = torch.rand(n, generator=generator) < 0.5
    x = torch.where(mirror[:, None, None, None], torch.flip(x, dims=[3]), x)
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
    if hp.augmentation_type == "crop_color_transform" and hp.cutout:
        cy = torch.randint(0, height, (n,), generator=generator)
        cx = torch.randint(0, width, (n,), generator=generator)
        half = hp.cutout / 2
        inside_y = ((torch.arange(height)[None, :] - cy[:, None]).abs() < half)[:, :, None]
        inside_x = ((torch.arange(width)[None, :] - cx[:, None]).abs() < half)[:, None, :]
        x = x * (~(inside_y & inside_x))[:, None].to(x.dtype)
    return x


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


def make_optimizer(net: torch.nn.Module, hp: Hyperparameters) -> torch.optim.Optimizer:
    # Weight decay on weights only: decaying BatchNorm scales and biases only hurts.
    trainable = [p for p in net.parameters() if p.requires_grad]  # airbench's whitening filters are fixed
    decay = [p for p in trainable if p.ndim > 1]
    rest = [p for p in trainable if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if hp.optimizer == "adam":
        return torch.optim.AdamW(groups, lr=hp.learning_rate)
    if hp.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=hp.learning_rate, momentum=hp.momentum)
    return torch.optim.SGD(groups, lr=hp.learning_rate, momentum=hp.momentum, nesterov=hp.optimizer == "nag")


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
