"""SageMaker's image-format input channels: where a training job finds them, and reading them.

A job reads four channels (train, validation, train_lst, validation_lst). By default they are
what `scones stage` wrote, and the seed validated on the test split:

    s3://<bucket>/data/train, s3://<bucket>/data/test, .../train.lst, .../test.lst

Both splits are read and checked against the hyperparameters before any job exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
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
    from scones.data.dataset import Split, SplitIndex


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


STREAM_ABOVE_BYTES = 2 * 1024**3  # data_loading=auto streams when the decoded splits (float32) would pass this
INIT_SAMPLE = 512  # streamed runs: images for the net's data-dependent initialisation (airbench whitening)


class TrainingData:
    """Both splits' labels and class names, and their images as float tensors in [0, 1], (N, 3, H, W).

    In memory (`x_train`, `x_val` hold every image) or streamed (each batch decoded by loader
    workers when it is needed); the training run asks for batches and does not care which.
    """

    def __init__(
        self, train: Split | SplitIndex, validation: Split | SplitIndex, classes: list[str], workers: int = 2
    ) -> None:
        from scones.data.dataset import SplitIndex

        self.y_train = torch.from_numpy(train.labels)
        self.y_val = torch.from_numpy(validation.labels)
        self.classes = classes
        self.checksum = _combine(train.checksum, validation.checksum)
        self.workers = workers
        self.streamed: tuple[SplitIndex, SplitIndex] | None = None
        if isinstance(train, SplitIndex) and isinstance(validation, SplitIndex):
            self.streamed = (train, validation)
        else:
            assert not isinstance(train, SplitIndex) and not isinstance(validation, SplitIndex)
            self.x_train = _to_tensor(train.images)
            self.x_val = _to_tensor(validation.images)

    def train_batches(self, order: torch.Tensor, batch_size: int, steps: int) -> Iterator[torch.Tensor]:
        """The training images of each of `steps` batches taken from `order` in turn."""
        groups = [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]
        if self.streamed is None:
            yield from (self.x_train[g] for g in groups)
            return
        from scones.model.loader import batches

        yield from batches(self.streamed[0], [g.tolist() for g in groups], self.workers)

    def validation_batches(self, size: int = 256) -> Iterator[torch.Tensor]:
        """Every validation image in order, `size` at a time."""
        if self.streamed is None:
            yield from (self.x_val[start : start + size] for start in range(0, len(self.x_val), size))
            return
        from scones.model.loader import batches, in_groups

        yield from batches(self.streamed[1], in_groups(len(self.streamed[1]), size), self.workers)

    def init_sample(self, seed: int) -> torch.Tensor:
        """Training images for the net's data-dependent initialisation: all of them in memory, a sample streamed."""
        if self.streamed is None:
            return self.x_train
        from scones.model.loader import batches

        count = len(self.streamed[0])
        pick = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:INIT_SAMPLE].sort().values
        return torch.cat(list(batches(self.streamed[0], [pick.tolist()], 0)))

    def validation_head(self, count: int) -> torch.Tensor:
        """The first `count` validation images (an export's sample input)."""
        if self.streamed is None:
            return self.x_val[:count]
        from scones.model.loader import batches

        return torch.cat(list(batches(self.streamed[1], [range(min(count, len(self.streamed[1])))], 0)))


def read_channels(store: Store, channels: Channels, hp: Hyperparameters, progress: Progress) -> TrainingData:
    """Read (or, streaming, index) both splits and check them against the hyperparameters, before any job exists."""
    from scones.data.dataset import index_split, read_lst, read_split

    size = (hp.shape[1], hp.shape[2])  # any staged image is read at image_shape (scaled to cover, centre crop)
    stream = hp.data_loading == "stream"
    if hp.data_loading == "auto":
        count = len(read_lst(store, channels.train_lst)) + len(read_lst(store, channels.validation_lst))
        stream = count * 3 * size[0] * size[1] * 4 > STREAM_ABOVE_BYTES
    read = index_split if stream else read_split
    train_split = read(store, channels.train, channels.train_lst, progress, size=size)
    validation = read(store, channels.validation, channels.validation_lst, progress, size=size)
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
    return TrainingData(train_split, validation, classes, hp.loader_workers)


def data_checksum(store: Store, channels: Channels) -> str:
    """The checksum a job on these channels records (both splits' files), to spot a finished twin."""
    from scones.data.dataset import index_split

    train_split = index_split(store, channels.train, channels.train_lst)  # bytes hashed, nothing decoded
    validation = index_split(store, channels.validation, channels.validation_lst)
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
