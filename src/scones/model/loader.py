"""Streaming images from a staged split: a torch DataLoader whose workers read and decode each batch.

Training uses it when the decoded splits would not fit in memory (hyperparameter
`data_loading`): 50,000 images at 3,224,224 are 30 GB as float32 tensors, but a few batches in
flight are megabytes. `scones evaluate` and `scones monitor baseline` always use it: they pass
over a split once, so holding it whole would buy nothing. Workers decode exactly as
`read_split` does (`SplitIndex.images`), so a streamed pass sees the same pixels as an
in-memory one; augmentation then runs on each batch in the training process, as it does in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from scones.data.dataset import SplitIndex
from scones.errors import SconesError


class _Images(Dataset[np.ndarray]):
    def __init__(self, index: SplitIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.index.image(i)

    def __getitems__(self, rows: list[int]) -> np.ndarray | SconesError:
        # A whole batch at once: one concurrent read on S3. A SconesError (a missing or corrupt image) is
        # handed back rather than raised: DataLoader would re-raise it wrapped in a worker's traceback, and the
        # CLI owes the user the one-line message.
        try:
            return self.index.images(rows)
        except SconesError as exc:
            return exc


def _to_tensor(batch: Any) -> torch.Tensor | SconesError:  # what __getitems__ returned (DataLoader types it a list)
    # A tensor crosses from a worker in shared memory; an array would be pickled through a pipe.
    return torch.from_numpy(batch) if isinstance(batch, np.ndarray) else batch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return images.permute(0, 3, 1, 2).contiguous().float().div_(255)


def pixel_batches(index: SplitIndex, groups: Sequence[Sequence[int]], workers: int) -> Iterator[np.ndarray]:
    """uint8 (B, H, W, 3) for each group of .lst rows, in order, decoded by `workers` processes (0: this one).

    At most two batches per worker are decoded ahead, so memory is bounded by the batch size.
    A single batch, or a caller that is not the main thread (a `scones up` request handler), is
    decoded in this process: a worker would gain nothing for one batch, and forking a server's
    process could copy a lock one of its other threads holds. The pixels are the same either way.
    """
    if len(groups) <= 1 or threading.current_thread() is not threading.main_thread():
        workers = 0
    loader = DataLoader(
        _Images(index),
        batch_sampler=[list(g) for g in groups],
        num_workers=workers,
        collate_fn=_to_tensor,
        prefetch_factor=2 if workers else None,
    )
    for batch in loader:
        if isinstance(batch, SconesError):
            raise batch
        yield batch.numpy()


def batches(index: SplitIndex, groups: Sequence[Sequence[int]], workers: int) -> Iterator[torch.Tensor]:
    """float32 (B, 3, H, W) in [0, 1] for each group of .lst rows, in order (`pixel_batches`, as tensors)."""
    for pixels in pixel_batches(index, groups, workers):
        yield to_float(torch.from_numpy(pixels))


def in_groups(count: int, size: int) -> list[range]:
    """Rows 0..count-1 in consecutive groups of `size` (the last may be shorter)."""
    return [range(start, min(start + size, count)) for start in range(0, count, size)]
