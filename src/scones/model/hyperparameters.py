"""Training hyperparameters: SageMaker image-classification's names and meanings, scones' defaults.

A seed user's settings carry over unchanged (`num_layers=20`, `lr_scheduler_step="10,20"`,
`early_stopping="True"` ...): values may be strings, as SageMaker passes them. The defaults
are scones' own, chosen on a validation split carved from the training images for the best
accuracy within ten minutes on two CPU cores (docs/training.md says where and why they differ
from SageMaker's). The fields after `precision_dtype` are scones' additions. Values are cast by
`scones.config.cast_value` in its loose, SageMaker spelling; they never come from the
environment. Anything unknown or out of range is a TrainingError before training starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scones.config import cast_value
from scones.errors import ConfigError, TrainingError

SMALL_IMAGE_DEPTHS = (20, 32, 44, 56, 110)  # the depths SageMaker's guide lists for small images
Optimizer = Literal["sgd", "adam", "rmsprop", "nag"]
Augmentation = Literal["none", "crop", "crop_color", "crop_color_transform", "trivial", "trivial_wide"]
Architecture = Literal["resnet", "airbench"]
Mix = Literal["none", "mixup", "cutmix"]
# SageMaker's precision_dtype is float32 or float16 (GPU mixed precision); a CPU's fast half format is bfloat16.
Precision = Literal["float32", "bfloat16"]
Loading = Literal["auto", "memory", "stream"]


@dataclass(frozen=True)
class Hyperparameters:
    # --- SageMaker's (reference section 2) ---
    image_shape: str = "3,32,32"  # "C,H,W"; SageMaker's default is 3,224,224, the seed used 3,32,32
    num_classes: int = 2
    num_training_samples: int | None = None  # None: count the training channel; else it must match
    # TrivialAugment fits slowly; an epoch at width 32 costs 0.37x one at 64, so 320 of them take about the
    # time of 120 at width 64 and were as accurate or more on six carved runs (docs/benchmarks-history.md, round 4)
    epochs: int = 320
    learning_rate: float = 0.1
    mini_batch_size: int = 64
    optimizer: Optimizer = "nag"  # SGD with Nesterov momentum
    momentum: float = 0.9
    weight_decay: float = 0.0005
    num_layers: int = 20  # architecture=resnet only; 6n+2: 20, 32, 44, 56, 110 for small images
    # trivial_wide: crop + one TrivialAugment op per image (wide ranges) + cutout; with a long schedule, 3.4
    # points above crop_color_transform at 80 epochs on three carved validation splits (docs/benchmarks.md)
    augmentation_type: Augmentation = "trivial_wide"
    lr_scheduler_factor: float = 0.1  # used only with lr_scheduler_step
    lr_scheduler_step: str | None = None  # "10,20": step decay at those epochs; None: warmup + cosine
    use_pretrained_model: int = 0  # 1: start from pretrained_weights (nothing is downloaded from a model hub)
    use_weighted_loss: bool = False  # weight each class by N / (k * its count): imbalanced classes count equally
    checkpoint_frequency: int | None = None  # every N epochs also store a checkpoint; best epoch is exported
    early_stopping: bool = False
    early_stopping_min_epochs: int = 10
    early_stopping_patience: int = 5
    early_stopping_tolerance: float = 0.0
    # bfloat16 (mixed precision) is ~1.5x faster per epoch on CPUs with AMX but was ~0.7 points less
    # accurate on three carved validation splits (docs/benchmarks.md): float32 fits the time budget
    precision_dtype: Precision = "float32"
    # --- scones' own ---
    pretrained_weights: str | None = None  # a scones model.tar.gz or a PyTorch state dict (.pt): path or s3:// URI
    backbone_lr_factor: float = 0.1  # with use_pretrained_model=1: the pretrained layers learn at this share
    # 1: first pretrain on the other classes of the CIFAR-100 archive the data was staged from (model/pretrain.py)
    pretrain_on_other_classes: int = 0
    seed: int = 0  # same seed, data and threads -> same weights
    architecture: Architecture = "airbench"  # airbench: whitened 3-group conv net; resnet: num_layers deep
    width: int | None = None  # first-stage channels (resnet: then 2x, 4x; airbench: 4x, 4x); None: 16 / 32
    ensemble: int = 1  # nets trained side by side, their logits averaged in one graph (time x ensemble)
    label_smoothing: float = 0.1
    warmup_epochs: int = 2
    ema_decay: float = 0.99  # exponential moving average of the weights; 0 turns it off
    cutout: int = 12  # side of the erased square in crop_color_transform and trivial(_wide)
    warp: bool = False  # crop_color_transform also warps: SageMaker's rotation, shear and aspect changes
    # Larger photos: a random 35-100% of the area at aspect 3/4..4/3, scaled back to image_shape, instead of
    # the padded 4-pixel shift (which moves a 224-pixel image by next to nothing); then the mirror and policy
    random_resized_crop: bool = False
    # Progressive resizing: the first half of the epochs train on images scaled to 3/4 of the side (~0.56x the
    # pixels, cheaper epochs), the second half at image_shape, which validation and serving always use
    progressive_resizing: bool = False
    mix: Mix = "none"  # mixup or cutmix of each training image with another of its batch
    sam_rho: float = 0.0  # sharpness-aware minimisation's radius; 0 turns it off (else ~2x the step cost)
    test_time_flip: bool = True  # average each image with its mirror (inside the ONNX graph)
    test_time_shift: bool = False  # also average 1-pixel shifted views (inside the ONNX graph)
    calibrate: bool = True  # fit a softmax temperature on the validation channel
    threads: int = 2  # torch threads
    # memory: decode every image up front (fastest for small images); stream: a loader with workers decodes each
    # batch as it is needed, memory bounded by the batch; auto: stream when the decoded splits would pass 2 GiB
    data_loading: Loading = "auto"
    loader_workers: int = 2  # processes decoding images when streaming

    def __post_init__(self) -> None:
        _check(self)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = (int(v) for v in self.image_shape.split(","))
        return c, h, w

    @property
    def channels(self) -> int:
        """The first stage's width: `width`, or the architecture's default (resnet 16, airbench 32)."""
        if self.width is not None:
            return self.width
        return 32 if self.architecture == "airbench" else 16

    @property
    def lr_steps(self) -> list[int]:
        return [int(v) for v in self.lr_scheduler_step.split(",")] if self.lr_scheduler_step else []

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Hyperparameters:
        return parse({**self.as_dict(), **changes})


def valid_depth(num_layers: int) -> bool:
    """ResNet depths for small images are 6n + 2 (three stages of n two-layer blocks)."""
    return num_layers >= 8 and (num_layers - 2) % 6 == 0


NAMES = tuple(f.name for f in dataclasses.fields(Hyperparameters))


def parse(values: Mapping[str, Any] | None = None) -> Hyperparameters:
    """Hyperparameters from `values` (strings as SageMaker passes them, or typed); defaults elsewhere."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(NAMES))
    if unknown:
        raise TrainingError(
            f"Unknown hyperparameter {', '.join(unknown)}; known: {', '.join(NAMES)} (see docs/training.md)"
        )
    hints = typing.get_type_hints(Hyperparameters)
    typed = {}
    for name, raw in values.items():
        try:
            typed[name] = cast_value(name, raw, hints[name], loose=True)
        except ConfigError:
            raise _bad(name, raw, _expected(hints[name])) from None
    return Hyperparameters(**typed)


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """["k=v", ...] (the CLI's --hyperparameter) -> {"k": "v"}."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TrainingError(f"Hyperparameter {pair!r} is not KEY=VALUE; e.g. --hyperparameter epochs=30")
        result[key.strip()] = value.strip()
    return result


def _expected(hint: Any) -> str:
    """What a value of type `hint` looks like, in words (X | None: those of X)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is Literal:
        return f"one of {', '.join(typing.get_args(hint))}"
    return {bool: "True or False", int: "an integer", float: "a number"}[hint]


def _bad(name: str, value: Any, expected: str) -> TrainingError:
    return TrainingError(f"Hyperparameter {name}={value!r} is invalid; expected {expected}")


def _check(h: Hyperparameters) -> None:
    """Ranges and combinations SageMaker would also refuse (or scones cannot honour)."""
    try:
        c, height, width = h.shape
    except ValueError:
        raise _bad("image_shape", h.image_shape, 'three integers "C,H,W" such as "3,32,32"') from None
    if c != 3 or not 8 <= height <= 512 or not 8 <= width <= 512:
        raise _bad("image_shape", h.image_shape, 'RGB ("3,H,W") with H and W from 8 to 512, e.g. "3,32,32"')
    positive = {
        "num_classes": h.num_classes >= 2,
        "epochs": h.epochs >= 1,
        "learning_rate": 0 < h.learning_rate <= 10,
        "mini_batch_size": h.mini_batch_size >= 1,
        "width": h.width is None or 1 <= h.width <= 256,
        "threads": h.threads >= 1,
        "loader_workers": h.loader_workers >= 1,
    }
    for name, ok in positive.items():
        if not ok:
            raise _bad(name, getattr(h, name), "a positive value (num_classes at least 2)")
    ranges = {
        "momentum": 0 <= h.momentum < 1,
        "weight_decay": 0 <= h.weight_decay < 1,
        "lr_scheduler_factor": 0 < h.lr_scheduler_factor <= 1,
        "label_smoothing": 0 <= h.label_smoothing < 1,
        "ema_decay": 0 <= h.ema_decay < 1,
        "sam_rho": 0 <= h.sam_rho < 1,
        "early_stopping_tolerance": 0 <= h.early_stopping_tolerance < 1,
    }
    for name, ok in ranges.items():
        if not ok:
            raise _bad(name, getattr(h, name), "a number in [0, 1) (lr_scheduler_factor in (0, 1])")
    if not 1 <= h.ensemble <= 8:
        raise _bad("ensemble", h.ensemble, "an integer from 1 to 8")
    if h.num_training_samples is not None and h.num_training_samples < 1:
        raise _bad("num_training_samples", h.num_training_samples, "a positive integer or None")
    if not valid_depth(h.num_layers):
        raise _bad("num_layers", h.num_layers, f"6n+2 for small images: {', '.join(map(str, SMALL_IMAGE_DEPTHS))}")
    if h.use_pretrained_model not in (0, 1):
        raise _bad("use_pretrained_model", h.use_pretrained_model, "0 (from scratch) or 1 (from pretrained_weights)")
    if h.use_pretrained_model and not h.pretrained_weights:
        raise _bad(
            "use_pretrained_model",
            1,
            "pretrained_weights=PATH or s3://... beside it (a scones model.tar.gz "
            "or a PyTorch state dict); nothing is downloaded",
        )
    if h.pretrained_weights and not h.use_pretrained_model:
        raise _bad("pretrained_weights", h.pretrained_weights, "use_pretrained_model=1 beside it")
    if h.pretrain_on_other_classes not in (0, 1):
        raise _bad("pretrain_on_other_classes", h.pretrain_on_other_classes, "0 or 1")
    if h.pretrain_on_other_classes and h.use_pretrained_model:
        raise _bad(
            "pretrain_on_other_classes", 1, "use_pretrained_model=0: it makes its own pretrained weights (or drop it)"
        )
    if not 0 < h.backbone_lr_factor <= 1:
        raise _bad("backbone_lr_factor", h.backbone_lr_factor, "a number in (0, 1]")
    for name in ("early_stopping_min_epochs", "early_stopping_patience", "warmup_epochs", "cutout", "seed"):
        if getattr(h, name) < 0:
            raise _bad(name, getattr(h, name), "an integer >= 0")
    if h.warp and h.augmentation_type != "crop_color_transform":
        raise _bad("warp", h.warp, "False unless augmentation_type=crop_color_transform (warp is part of it)")
    if h.checkpoint_frequency is not None and not 1 <= h.checkpoint_frequency <= h.epochs:
        raise _bad("checkpoint_frequency", h.checkpoint_frequency, f"an integer from 1 to epochs ({h.epochs})")
    if h.lr_scheduler_step is not None:
        try:
            steps = h.lr_steps
        except ValueError:
            raise _bad("lr_scheduler_step", h.lr_scheduler_step, 'comma-separated epochs such as "10,20"') from None
        if any(s < 1 for s in steps) or steps != sorted(set(steps)):
            raise _bad("lr_scheduler_step", h.lr_scheduler_step, 'increasing positive epochs such as "10,20"')
