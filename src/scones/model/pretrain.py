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
from typing import TYPE_CHECKING, Any

from scones.config import Settings
from scones.errors import DataError, SconesError
from scones.progress import NullProgress, Progress
from scones.storage import Store

if TYPE_CHECKING:
    from scones.model.channels import Channels
    from scones.model.hyperparameters import Hyperparameters

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


def pretrain_then_train(
    settings: Settings,
    hp: Hyperparameters,
    channels: Channels,
    data: str,
    *,
    store: Store | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """`-p pretrain_on_other_classes=1`: pretrain on the other classes of the archive the dataset at
    `data` (its s3:// prefix) was staged from, then train on `channels` from that model; the target job's record.

    DataError, before any job, when the staged data did not come from a CIFAR-100 archive with at
    least two classes besides its own (the dev archive holds only the targets).
    """
    from scones.data.dataset import read_manifest
    from scones.data.stage import archive_classes
    from scones.model.train import train

    store = store or Store(settings)
    progress = progress or NullProgress()
    manifest = read_manifest(store, data)
    source, targets = manifest.get("source"), list(manifest.get("classes") or [])
    try:
        if not source:
            raise DataError(f"the manifest at {data} does not say what it was staged from")
        others = other_classes(archive_classes(store, source, progress, with_images=True), targets)
    except SconesError as exc:
        raise DataError(
            f"pretrain_on_other_classes=1 needs data staged from a CIFAR-100 archive with other classes ({exc}); "
            "run 'scones pretrain --source <full cifar-100-python.tar.gz>' and then train with "
            "-p use_pretrained_model=1 -p pretrained_weights=<its model.tar.gz>"
        ) from exc
    values = {k: v for k, v in hp.as_dict().items() if k not in ("pretrain_on_other_classes", "num_training_samples")}
    progress.log(f"Pretraining on the {len(others)} other classes of {source}")
    base = pretrain(settings, source, targets, values, store=store, progress=progress)
    if base["status"] != "Completed":
        return base
    tuned = hp.replace(pretrain_on_other_classes=0, use_pretrained_model=1, pretrained_weights=base["artifact_uri"])
    return train(settings, tuned, channels, name=name, progress=progress, store=store)
