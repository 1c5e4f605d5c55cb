"""Streaming images into training: a torch DataLoader whose workers read and decode each batch.

Used when the decoded splits would not fit in memory (hyperparameter `data_loading`): 50,000
images at 3,224,224 are 30 GB as float32 tensors, but a few batches in flight are megabytes.
Workers decode exactly as `read_split` does (`SplitIndex.image`), so a streamed run sees the
same pixels as an in-memory one; augmentation then runs on each batch in the training process,
as it does in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from scones.data.dataset import SplitIndex


class _Images(Dataset[np.ndarray]):
    def __init__(self, index: SplitIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.index.image(i)


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return images.permute(0, 3, 1, 2).contiguous().float().div_(255)


def batches(index: SplitIndex, groups: Sequence[Sequence[int]], workers: int) -> Iterator[torch.Tensor]:
    """float32 (B, 3, H, W) in [0, 1] for each group of indices, in order, decoded by `workers` processes.

    At most two batches per worker are decoded ahead, so memory is bounded by the batch size.
    """
    loader = DataLoader(
        _Images(index),
        batch_sampler=[list(g) for g in groups],
        num_workers=workers,
        collate_fn=_stack,
        prefetch_factor=2 if workers else None,
    )
    for images in loader:
        yield to_float(images)
