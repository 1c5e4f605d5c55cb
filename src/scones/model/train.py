"""`scones train`: a SageMaker-style image-classification training job, on the CPU.

Small helpers first, then `train`, which reads top to bottom: check the hyperparameters and
the job name, read the channels (train, validation, train_lst, validation_lst), build the run
(airbench's whitened conv net or the ResNet, its optimiser, schedule and moving average),
record the job, then the epoch loop (SageMaker's log lines, the job's metrics, checkpoints,
early stopping) until the last epoch or Ctrl-C/SIGTERM; last, publish the kept epoch (softmax
temperature, ONNX, artifact, plot) and close the job's record with what publishing returned.

    from scones.model.train import train
    record = train(settings, hyperparameters={"epochs": "30"})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import torch

from scones.config import Settings
from scones.errors import SconesError, TrainingError
from scones.model import jobs
from scones.model.channels import Channels, data_checksum, read_channels
from scones.model.export import publish
from scones.model.hyperparameters import Hyperparameters, parse
from scones.model.pretrained import read_weights
from scones.model.recipe import native_bfloat16
from scones.model.run import Epoch, Run
from scones.progress import NullProgress, Progress
from scones.storage import Store


class _JobLog:
    """Lines for the progress display and the job's log file (<home>/logs/training/<job>.log)."""

    def __init__(self, settings: Settings, name: str, progress: Progress) -> None:
        self.path = settings.logs_dir / "training" / f"{name}.log"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.progress = progress

    def __call__(self, message: str) -> None:
        self.progress.log(message)
        with self.path.open("a") as handle:
            handle.write(message + "\n")


def _log_epoch(log: Callable[[str], None], epoch: Epoch) -> None:
    # SageMaker's own log lines: what its metric regexes and CloudWatch showed.
    log(f"Epoch[{epoch.epoch}] Train-accuracy={epoch.train_accuracy:.6f}")
    log(f"Epoch[{epoch.epoch}] Time cost={epoch.seconds:.3f}")
    log(f"Epoch[{epoch.epoch}] Validation-accuracy={epoch.validation_accuracy:.6f}")


def _store_checkpoint(settings: Settings, store: Store, name: str, run: Run, epoch: int) -> None:
    import io

    buffer = io.BytesIO()
    torch.save({"epoch": epoch, "config": asdict(run.config), "state_dict": run.model.state_dict()}, buffer)
    store.put(settings.bucket, f"models/{name}/checkpoints/epoch-{epoch:04d}.pt", buffer.getvalue())


@contextmanager
def _sigterm_interrupts() -> Iterator[Callable[[], None]]:
    """SIGTERM acts as Ctrl-C (KeyboardInterrupt) until `finishing()` is called, then is only noted."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    raising = [True]

    def handler(signum: int, frame: object) -> None:
        if raising[0]:
            raising[0] = False
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)

    def finishing() -> None:
        raising[0] = False

    try:
        yield finishing
    finally:
        signal.signal(signal.SIGTERM, previous)


def train(
    settings: Settings,
    hyperparameters: dict[str, Any] | Hyperparameters | None = None,
    channels: Channels | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    store: Store | None = None,
    on_epoch: Callable[[Epoch], None] | None = None,
) -> dict[str, Any]:
    """Run one training job and return its record (status Completed, or Stopped on Ctrl-C/SIGTERM)."""
    hp = hyperparameters if isinstance(hyperparameters, Hyperparameters) else parse(hyperparameters)
    channels = channels or Channels.staged(settings)
    store = store or Store(settings)
    progress = progress or NullProgress()
    name = jobs.check_name(name) if name else jobs.new_name()
    if jobs.get(settings, name) is not None:
        raise TrainingError(f"A training job named {name} already exists; pick another --name or leave it out")
    data = read_channels(store, channels, hp, progress)
    log = _JobLog(settings, name, progress)
    pretrained = read_weights(store, hp.pretrained_weights) if hp.pretrained_weights else None
    run = Run(hp, data, progress, pretrained)  # the net, optimiser and schedule: ready before the job exists
    jobs.create(settings, name, hp.as_dict(), asdict(channels), data.checksum)
    log(f"Training job {name}: {len(data.y_train)} training, {len(data.y_val)} validation images")
    if hp.precision_dtype == "bfloat16" and not native_bfloat16():
        log(
            "precision_dtype=bfloat16: this CPU has no bfloat16 instructions, so it is emulated and slower than float32"
        )
    started = time.monotonic()

    def close(status: str, reason: str | None, **fields: Any) -> dict[str, Any]:
        return jobs.finish(
            settings, name, status, duration_seconds=time.monotonic() - started, failure_reason=reason, **fields
        )

    status, reason = "Completed", None
    with _sigterm_interrupts() as finishing:
        try:
            progress.start(f"Training {hp.epochs} epochs", hp.epochs * run.steps_per_epoch)
            for epoch in range(hp.epochs):
                result = run.run_epoch(epoch)
                _log_epoch(log, result)
                jobs.update_metrics(settings, name, {"epochs": [asdict(e) for e in run.history]})
                if hp.checkpoint_frequency and (epoch + 1) % hp.checkpoint_frequency == 0:
                    _store_checkpoint(settings, store, name, run, epoch)
                if on_epoch is not None:
                    on_epoch(result)
                if run.should_stop_early():
                    log(f"Early stopping after epoch {epoch}: no validation improvement")
                    break
        except KeyboardInterrupt:
            status, reason = "Stopped", "Stopped by Ctrl-C or SIGTERM; the best epoch so far is kept"
            log(f"Training job {name} stopped after {len(run.history)} epoch(s)")
        except Exception as exc:
            close("Failed", str(exc) if isinstance(exc, SconesError) else f"{type(exc).__name__}: {exc}")
            raise
        finishing()  # a SIGTERM from here on is noted, not raised: the export takes seconds
        if run.best is None:
            return close(status, reason)
        try:
            published = publish(settings, store, name, run, time.monotonic() - started, log)
        except BaseException as exc:  # a second Ctrl-C included: the record must not stay InProgress
            close("Stopped" if isinstance(exc, KeyboardInterrupt) else "Failed", f"Export failed: {exc!r}")
            raise
        metrics = run.summary(time.monotonic() - started, published.temperature)
        record = close(status, reason, metrics=metrics, artifact_uri=published.uri)
    log(f"Training job {name} {status}: model at {published.uri}")
    return record


def reusable_job(
    settings: Settings, store: Store, channels: Channels, hyperparameters: dict[str, Any]
) -> dict[str, Any] | None:
    """A Completed job on the same data (checksum of both splits) with the same hyperparameters, if any."""
    try:
        checksum = data_checksum(store, channels)
    except Exception:  # unreadable data: no twin, and the training itself reports it properly
        return None
    return jobs.latest_completed(settings, checksum, hyperparameters)
