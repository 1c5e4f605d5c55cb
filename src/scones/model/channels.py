"""SageMaker's image-format input channels: where a training job finds them, and reading them.

A job reads four channels (train, validation, train_lst, validation_lst). By default they are
what `scones stage` wrote, and the seed validated on the test split:

    s3://<bucket>/data/train, s3://<bucket>/data/test, .../train.lst, .../test.lst

Both splits are read and checked against the hyperparameters before any job exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from scones.config import Settings
from scones.errors import SconesError, TrainingError
from scones.keys import parse_s3_uri
from scones.model.hyperparameters import Hyperparameters
from scones.progress import Progress
from scones.storage import Store

if TYPE_CHECKING:
    from scones.data.dataset import Split


@dataclass(frozen=True)
class Channels:
    """SageMaker's four image-format input channels, as store URIs (or local paths)."""

    train: str
    validation: str
    train_lst: str
    validation_lst: str

    @classmethod
    def under(cls, base: str, **overrides: str | None) -> Channels:
        """The staged layout under `base` (train/, test/ and their .lst files), with any overrides."""
        defaults = {
            "train": f"{base}/train",
            "validation": f"{base}/test",
            "train_lst": f"{base}/train.lst",
            "validation_lst": f"{base}/test.lst",
        }
        return cls(**{k: overrides.get(k) or v for k, v in defaults.items()})

    @classmethod
    def staged(cls, settings: Settings, prefix: str = "data", **overrides: str | None) -> Channels:
        """What `scones stage` wrote (the seed validated on the test split), with any overrides."""
        return cls.under(f"s3://{settings.bucket}/{prefix}", **overrides)

    @classmethod
    def located(cls, settings: Settings, data: str | None = None, **overrides: str | None) -> Channels:
        """The channels of a staged dataset at `data` (an s3:// prefix or a local folder); None: the default."""
        if not data:
            return cls.staged(settings, "data", **overrides)
        if data.startswith("s3://"):
            bucket, prefix = parse_s3_uri(data.rstrip("/"))
            return cls.under(f"s3://{bucket}/{prefix}", **overrides)
        return cls.under(data.rstrip("/"), **overrides)


class TrainingData:
    """Both splits as float tensors in [0, 1], (N, 3, H, W), plus labels and the class names."""

    def __init__(self, train: Split, validation: Split, classes: list[str]) -> None:
        self.x_train = _to_tensor(train.images)
        self.y_train = torch.from_numpy(train.labels)
        self.x_val = _to_tensor(validation.images)
        self.y_val = torch.from_numpy(validation.labels)
        self.classes = classes
        self.checksum = _combine(train.checksum, validation.checksum)


def read_channels(store: Store, channels: Channels, hp: Hyperparameters, progress: Progress) -> TrainingData:
    """Read both splits and check them against the hyperparameters, before any job exists."""
    from scones.data.dataset import read_split

    size = (hp.shape[1], hp.shape[2])  # any staged image is read at image_shape (scaled to cover, centre crop)
    train_split = read_split(store, channels.train, channels.train_lst, progress, size=size)
    validation = read_split(store, channels.validation, channels.validation_lst, progress, size=size)
    classes = _class_names(store, channels, hp.num_classes)
    for split, what in ((train_split, "train"), (validation, "validation")):
        if int(split.labels.max()) >= hp.num_classes:
            raise TrainingError(
                f"The {what} channel has label {int(split.labels.max())} but num_classes={hp.num_classes}; "
                "set num_classes to the number of classes"
            )
    if hp.num_training_samples is not None and hp.num_training_samples != len(train_split):
        raise TrainingError(
            f"num_training_samples={hp.num_training_samples} but the train channel holds {len(train_split)} images; "
            "set it to that count or leave it out"
        )
    if len(np.unique(train_split.labels)) < 2:
        raise TrainingError("The train channel holds a single class; stage images of every class")
    return TrainingData(train_split, validation, classes)


def data_checksum(store: Store, channels: Channels) -> str:
    """The checksum a job on these channels records (both splits' files), to spot a finished twin."""
    from scones.data.dataset import read_split

    train_split = read_split(store, channels.train, channels.train_lst)
    validation = read_split(store, channels.validation, channels.validation_lst)
    return _combine(train_split.checksum, validation.checksum)


def _class_names(store: Store, channels: Channels, num_classes: int) -> list[str]:
    """Names from the staged manifest beside train.lst; else scones' two (label 0 = bicycle) or class_<i>."""
    from scones.data.dataset import read_manifest
    from scones.data.stage import DEFAULT_CLASSES

    prefix = channels.train_lst.rsplit("/", 1)[0]
    try:
        classes = [str(c) for c in read_manifest(store, prefix)["classes"]]
    except SconesError:
        classes = []
    if len(classes) != num_classes:
        classes = list(DEFAULT_CLASSES) if num_classes == 2 else [f"class_{i}" for i in range(num_classes)]
    return classes


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div_(255)


def _combine(*checksums: str) -> str:
    return hashlib.sha256("\n".join(checksums).encode()).hexdigest()
