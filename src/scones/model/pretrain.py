"""Pretraining on the other classes of a CIFAR-100 archive, for transfer learning to the target ones.

With the full archive, the 98 classes that are not the target (bicycle, motorcycle) hold 49,000
training images: a backbone trained on them learns edges, textures and shapes that the 900
target images alone cannot teach. `pretrain` stages those classes under their own prefix and
trains on them; the target run then starts from that model
(`-p use_pretrained_model=1 -p pretrained_weights=<its model.tar.gz>`, model/pretrained.py),
with a new head and a lower backbone learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scones.config import Settings
from scones.errors import DataError
from scones.progress import NullProgress, Progress
from scones.storage import Store

PREFIX = "pretrain"  # where the other classes are staged, beside the target data under "data"


def other_classes(names: Sequence[str], targets: Sequence[str]) -> list[str]:
    """The archive's classes that are not targets, in archive order; DataError if a target is unknown."""
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise DataError(f"Unknown target class {', '.join(map(repr, unknown))}; give CIFAR-100 fine label names")
    others = [n for n in names if n not in targets]
    if len(others) < 2:
        raise DataError(f"The archive has {len(others)} class(es) besides the targets; pretraining needs at least 2")
    return others


def pretrain(
    settings: Settings,
    source: str | Path,
    targets: Sequence[str] = ("bicycle", "motorcycle"),
    hyperparameters: dict[str, Any] | None = None,
    *,
    store: Store | None = None,
    prefix: str = PREFIX,
    name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stage every class of the archive but `targets` under `prefix`, train on them; the job's record."""
    from scones.data.stage import archive_classes, stage
    from scones.model.channels import Channels
    from scones.model.hyperparameters import parse
    from scones.model.train import train

    store = store or Store(settings)
    progress = progress or NullProgress()
    values = dict(hyperparameters or {})
    parse({**values, "num_classes": 2})  # bad hyperparameters fail before the archive is read
    others = other_classes(archive_classes(store, source, progress), targets)
    stage(store, source, classes=others, prefix=prefix, progress=progress)
    channels = Channels.staged(settings, prefix)
    return train(settings, {**values, "num_classes": len(others)}, channels, name=name, progress=progress, store=store)
