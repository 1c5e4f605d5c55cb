"""`scones train`: a SageMaker-style image-classification training job, on the CPU.

Read top to bottom: read the channels (train, validation, train_lst, validation_lst), build
the net (airbench's whitened conv net, or the ResNet), train with augmentation, a warmup +
cosine (or SageMaker step) schedule and an exponential moving average of the weights,
validate every epoch, keep the best validation epoch, then fit a softmax temperature on
validation, export ONNX and store the artifact.

    from scones.model.train import train
    record = train(settings, hyperparameters={"epochs": "30"})
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from scones.config import Settings
from scones.errors import SconesError, TrainingError
from scones.model import jobs
from scones.model.artifact import Preprocessing
from scones.model.hyperparameters import Hyperparameters, parse
from scones.model.net import Net, NetConfig, build, tta_embed
from scones.model.recipe import augment, lr_multiplier, make_optimizer, mix, native_bfloat16
from scones.progress import NullProgress, Progress
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
    def staged(cls, settings: Settings, prefix: str = "data", **overrides: str | None) -> Channels:
        """What `scones stage` wrote (the seed validated on the test split), with any overrides."""
        base = f"s3://{settings.bucket}/{prefix}"
        defaults = {
            "train": f"{base}/train",
            "validation": f"{base}/test",
            "train_lst": f"{base}/train.lst",
            "validation_lst": f"{base}/test.lst",
        }
        return cls(**{k: overrides.get(k) or v for k, v in defaults.items()})


@dataclass(frozen=True)
class Epoch:
    """One epoch's metrics (epochs count from 0, as SageMaker's logs do)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    validation_loss: float
    validation_accuracy: float
    seconds: float
    learning_rate: float


class _Data:
    """Both splits as float tensors in [0, 1], (N, 3, H, W), plus labels and the class names."""

    def __init__(self, train: Split, validation: Split, classes: list[str]) -> None:
        self.x_train = _to_tensor(train.images)
        self.y_train = torch.from_numpy(train.labels)
        self.x_val = _to_tensor(validation.images)
        self.y_val = torch.from_numpy(validation.labels)
        self.classes = classes
        self.checksum = _combine(train.checksum, validation.checksum)


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
    run = _Run(hp, data, log, progress)  # the net, optimiser and schedule: ready before the job exists
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
            run.fit(lambda epoch: _after_epoch(settings, name, run, epoch, store, on_epoch))
        except KeyboardInterrupt:
            status, reason = "Stopped", "Stopped by Ctrl-C or SIGTERM; the best epoch so far is kept"
            log(f"Training job {name} stopped after {len(run.history)} epoch(s)")
        except Exception as exc:
            close("Failed", str(exc) if isinstance(exc, SconesError) else f"{type(exc).__name__}: {exc}")
            raise
        finishing()  # a SIGTERM from here on is noted, not raised: the export takes seconds
        if run.best is None:
            return close(status, reason)
        from scones.model.export import publish

        try:
            uri = publish(settings, store, name, run, run.summary(time.monotonic() - started), log)
        except BaseException as exc:  # a second Ctrl-C included: the record must not stay InProgress
            close("Stopped" if isinstance(exc, KeyboardInterrupt) else "Failed", f"Export failed: {exc!r}")
            raise
        record = close(status, reason, metrics=run.summary(time.monotonic() - started), artifact_uri=uri)
    log(f"Training job {name} {status}: model at {uri}")
    return record


def read_channels(store: Store, channels: Channels, hp: Hyperparameters, progress: Progress) -> _Data:
    """Read both splits and check them against the hyperparameters, before any job exists."""
    from scones.data.dataset import read_split

    train_split = read_split(store, channels.train, channels.train_lst, progress)
    validation = read_split(store, channels.validation, channels.validation_lst, progress)
    classes = _class_names(store, channels, hp.num_classes)
    for split, what in ((train_split, "train"), (validation, "validation")):
        if int(split.labels.max()) >= hp.num_classes:
            raise TrainingError(
                f"The {what} channel has label {int(split.labels.max())} but num_classes={hp.num_classes}; "
                "set num_classes to the number of classes"
            )
        if split.images.shape[1:3] != hp.shape[1:]:
            raise TrainingError(
                f"image_shape {hp.image_shape} does not match the {what} images "
                f"({split.images.shape[1]}x{split.images.shape[2]}); set image_shape=3,{split.images.shape[1]},"
                f"{split.images.shape[2]}"
            )
    if hp.num_training_samples is not None and hp.num_training_samples != len(train_split):
        raise TrainingError(
            f"num_training_samples={hp.num_training_samples} but the train channel holds {len(train_split)} images; "
            "set it to that count or leave it out"
        )
    if len(np.unique(train_split.labels)) < 2:
        raise TrainingError("The train channel holds a single class; stage images of every class")
    return _Data(train_split, validation, classes)


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


class _Run:
    """The model, its optimiser and schedule, and what the epochs have shown so far."""

    def __init__(self, hp: Hyperparameters, data: _Data, log: Callable[[str], None], progress: Progress) -> None:
        self.hp, self.data, self.log, self.progress = hp, data, log, progress
        torch.set_num_threads(hp.threads)
        self.preprocessing = Preprocessing(image_shape=hp.shape)
        self.mean = torch.tensor(self.preprocessing.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(self.preprocessing.std).view(1, 3, 1, 1)
        self.config = NetConfig(
            num_layers=hp.num_layers,
            width=hp.channels,
            num_classes=hp.num_classes,
            architecture=hp.architecture,
            members=hp.ensemble,
        )
        self.net: Net = build(self.config, hp.seed)
        self.net.prepare(self.normalise(data.x_train))
        self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ema: Net | None = copy.deepcopy(self.net) if hp.ema_decay else None
        self.optimizer = make_optimizer(self.net, hp)
        self.batch_size = min(hp.mini_batch_size, len(data.y_train))
        self.steps_per_epoch = len(data.y_train) // self.batch_size  # drop the ragged last batch
        self.schedule = lr_multiplier(hp, self.steps_per_epoch)
        self.generator = torch.Generator().manual_seed(hp.seed)
        self.step = 0
        self.history: list[Epoch] = []
        self.best: Epoch | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.temperature = 1.0

    @property
    def model(self) -> Net:
        """The weights validated and exported: the moving average when there is one."""
        return self.ema if self.ema is not None else self.net

    def fit(self, after_epoch: Callable[[Epoch], None]) -> None:
        self.progress.start(f"Training {self.hp.epochs} epochs", self.hp.epochs * self.steps_per_epoch)
        for epoch in range(self.hp.epochs):
            after_epoch(self.run_epoch(epoch))
            if self.should_stop_early():
                self.log(f"Early stopping after epoch {epoch}: no validation improvement")
                break

    def run_epoch(self, epoch: int) -> Epoch:
        started = time.monotonic()
        self.net.train()
        order = torch.randperm(len(self.data.y_train), generator=self.generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(self.steps_per_epoch):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            y = self.data.y_train[index]
            x, target = mix(augment(self.data.x_train[index], self.hp, self.generator), y, self.hp, self.generator)
            x = self.normalise(x)
            for group in self.optimizer.param_groups:
                group["lr"] = self.hp.learning_rate * self.schedule(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            loss, outputs = self._loss(x, target)
            loss.backward()  # type: ignore[no-untyped-call]
            if self.hp.sam_rho:
                self._sharpness_aware_gradient(x, target)
            logits = torch.stack(outputs).mean(dim=0).detach()
            self.optimizer.step()
            self.step += 1
            self._update_ema()
            loss_sum += loss.item() / len(outputs) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            self.progress.advance()
        val_logits = self.logits(self.data.x_val)
        result = Epoch(
            epoch=epoch,
            train_loss=loss_sum / seen,
            train_accuracy=correct / seen,
            validation_loss=float(F.cross_entropy(val_logits, self.data.y_val)),
            validation_accuracy=float((val_logits.argmax(1) == self.data.y_val).float().mean()),
            seconds=time.monotonic() - started,
            learning_rate=self.optimizer.param_groups[0]["lr"],
        )
        self.history.append(result)
        # Best = highest validation accuracy; ties go to the lower validation loss.
        if self.best is None or (result.validation_accuracy, -result.validation_loss) > (
            self.best.validation_accuracy,
            -self.best.validation_loss,
        ):
            self.best = result
            self.best_state = copy.deepcopy(self.model.state_dict())
        return result

    def _loss(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # bfloat16: mixed precision; the weights, optimiser and loss stay float32
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.hp.precision_dtype == "bfloat16"):
            outputs = [o.float() for o in self.net.member_logits(x)]  # each ensemble member has its own loss
        losses = [F.cross_entropy(o, target, label_smoothing=self.hp.label_smoothing) for o in outputs]
        return torch.stack(losses).sum(), outputs

    def _sharpness_aware_gradient(self, x: torch.Tensor, target: torch.Tensor) -> None:
        """SAM (Foret et al. 2021): replace the gradient by the one at w + rho * g / |g|.

        The weights step along the gradient taken at the worst nearby point, which favours flat
        minima (reported to generalise better on small data); it costs a second forward and
        backward pass per step. BatchNorm's running statistics see the batch twice; harmless.
        """
        params = [p for p in self.net.parameters() if p.grad is not None]
        with torch.no_grad():
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
            scale = self.hp.sam_rho / (norm + 1e-12)
            moves = [p.grad * scale for p in params]
            for p, move in zip(params, moves, strict=True):
                p.add_(move)
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self._loss(x, target)
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p, move in zip(params, moves, strict=True):
                p.sub_(move)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, model: Net | None = None) -> torch.Tensor:
        """Evaluation logits, averaged over the test-time views the exported graph uses."""
        model = model or self.model
        model.eval()
        out = []
        for start in range(0, len(x), 256):
            batch = self.normalise(x[start : start + 256])
            out.append(model.classify(tta_embed(model, batch, self.hp.test_time_flip, self.hp.test_time_shift)))
        return torch.cat(out)

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # Ramp the decay up so the average is not dominated by the random initial weights.
        decay = min(self.hp.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for avg, live in zip(self.ema.parameters(), self.net.parameters(), strict=True):
                avg.lerp_(live, 1 - decay)
            for buffer, source in zip(self.ema.buffers(), self.net.buffers(), strict=True):
                buffer.copy_(source)  # BatchNorm statistics: the live ones

    def should_stop_early(self) -> bool:
        """SageMaker's rule: after min_epochs, stop when `patience` epochs brought no relative gain > tolerance."""
        hp = self.hp
        if not hp.early_stopping or len(self.history) < max(
            hp.early_stopping_min_epochs, hp.early_stopping_patience + 1
        ):
            return False
        before = max(e.validation_accuracy for e in self.history[: -hp.early_stopping_patience])
        recent = max(e.validation_accuracy for e in self.history[-hp.early_stopping_patience :])
        return (recent - before) <= hp.early_stopping_tolerance * max(before, 1e-12)

    def best_model(self) -> Net:
        """A copy of the net holding the kept epoch's weights, in eval mode."""
        model = build(self.config, self.hp.seed)
        assert self.best_state is not None, "no epoch finished"
        model.load_state_dict(self.best_state)
        return model.eval()

    def summary(self, seconds: float) -> dict[str, Any]:
        assert self.best is not None
        images = len(self.data.y_train) * len(self.history)
        train_seconds = sum(e.seconds for e in self.history)
        return {
            "best_epoch": self.best.epoch,
            "validation_accuracy": self.best.validation_accuracy,
            "train_accuracy": self.best.train_accuracy,
            "epochs_run": len(self.history),
            "temperature": self.temperature,
            "images_per_second": images / train_seconds if train_seconds else 0.0,
            "seconds": seconds,
            "epochs": [asdict(e) for e in self.history],
        }


def _after_epoch(
    settings: Settings, name: str, run: _Run, epoch: Epoch, store: Store, on_epoch: Callable[[Epoch], None] | None
) -> None:
    # SageMaker's own log lines (what its metric regexes and CloudWatch showed), then ours.
    run.log(f"Epoch[{epoch.epoch}] Train-accuracy={epoch.train_accuracy:.6f}")
    run.log(f"Epoch[{epoch.epoch}] Time cost={epoch.seconds:.3f}")
    run.log(f"Epoch[{epoch.epoch}] Validation-accuracy={epoch.validation_accuracy:.6f}")
    jobs.update_metrics(settings, name, {"epochs": [asdict(e) for e in run.history]})
    if run.hp.checkpoint_frequency and (epoch.epoch + 1) % run.hp.checkpoint_frequency == 0:
        _store_checkpoint(settings, store, name, run, epoch.epoch)
    if on_epoch is not None:
        on_epoch(epoch)


def _store_checkpoint(settings: Settings, store: Store, name: str, run: _Run, epoch: int) -> None:
    import io

    buffer = io.BytesIO()
    torch.save({"epoch": epoch, "config": asdict(run.config), "state_dict": run.model.state_dict()}, buffer)
    store.put(settings.bucket, f"models/{name}/checkpoints/epoch-{epoch:04d}.pt", buffer.getvalue())


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div_(255)


def _combine(*checksums: str) -> str:
    import hashlib

    return hashlib.sha256("\n".join(checksums).encode()).hexdigest()


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
