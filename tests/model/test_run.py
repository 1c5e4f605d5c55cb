"""One training run stepped by hand (as bench/train_epoch_time.py does), then published."""

from __future__ import annotations

import pytest

from scones.config import Settings
from scones.model import artifact
from scones.model.channels import Channels, read_channels
from scones.model.export import publish
from scones.model.hyperparameters import parse
from scones.model.run import Run
from scones.progress import NullProgress
from scones.storage import Store
from tests.model.conftest import TINY


def _run(settings: Settings, store: Store, **changes: object) -> Run:
    hp = parse({**TINY, **changes})
    return Run(hp, read_channels(store, Channels.staged(settings), hp, NullProgress()), NullProgress())


def test_epochs_step_the_schedule_and_keep_the_best(settings: Settings, staged: Store) -> None:
    run = _run(settings, staged)
    first, second = run.run_epoch(0), run.run_epoch(1)
    assert run.history == [first, second] and run.step == 2 * run.steps_per_epoch == 8
    assert run.best in (first, second)
    assert run.best is not None and run.best.validation_accuracy == max(e.validation_accuracy for e in run.history)
    summary = run.summary(12.5, temperature=1.25)
    assert summary["best_epoch"] == run.best.epoch and summary["epochs_run"] == 2
    assert summary["temperature"] == 1.25 and summary["seconds"] == 12.5 and len(summary["epochs"]) == 2


@pytest.mark.parametrize("calibrate", [True, False])
def test_publish_returns_the_temperature_it_fitted_and_the_artifact(
    settings: Settings, staged: Store, calibrate: bool
) -> None:
    run = _run(settings, staged, epochs=1, calibrate=calibrate)
    run.run_epoch(0)
    lines: list[str] = []
    published = publish(settings, staged, "by-hand", run, 3.0, lines.append)
    assert published.uri == "s3://scones/models/by-hand/output/model.tar.gz"
    manifest = artifact.load(published.uri, staged).manifest
    assert manifest.metrics["temperature"] == published.temperature and manifest.metrics["seconds"] == 3.0
    if calibrate:
        assert 0.25 <= published.temperature <= 4 and lines[0].startswith("Calibration: softmax temperature")
    else:
        assert published.temperature == 1.0 and lines == []


def test_progressive_resizing_trains_the_first_half_smaller_then_full_size(settings: Settings, staged: Store) -> None:
    sizes: list[tuple[int, int]] = []
    run = _run(settings, staged, architecture="airbench", epochs=4, progressive_resizing=True)
    run.net.register_forward_pre_hook(
        lambda _, args: sizes.append(tuple(args[0].shape[2:])) if run.net.training else None
    )
    for epoch in range(4):
        run.run_epoch(epoch)
    per_epoch = len(sizes) // 4
    assert set(sizes[: 2 * per_epoch]) == {(24, 24)} and set(sizes[2 * per_epoch :]) == {(32, 32)}
    plain = _run(settings, staged, architecture="airbench", epochs=4)
    plain.net.register_forward_pre_hook(lambda _, args: sizes.append(tuple(args[0].shape[2:])))
    sizes.clear()
    plain.run_epoch(0)
    assert set(sizes) == {(32, 32)}
