"""One training run: the net, its optimiser and schedule, and what the epochs have shown so far.

`Run` holds the state a training job steps through; `scones.model.train` drives it epoch by
epoch (and bench/train_epoch_time.py times its epochs). Each epoch trains on augmented (and
optionally mixed) mini-batches with the warmup + cosine (or SageMaker step) schedule and an
exponential moving average of the weights, then validates with the test-time views the
exported graph uses. The best validation epoch's weights are kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from scones.model.artifact import Preprocessing
from scones.model.channels import TrainingData
from scones.model.hyperparameters import Hyperparameters
from scones.model.net import Net, NetConfig, build, downsample_for, tta_embed
from scones.model.pretrained import load_backbone
from scones.model.recipe import augment, class_weights, lr_multiplier, make_optimizer, mix, training_size
from scones.progress import Progress


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


class Run:
    """The model, its optimiser and schedule, and what the epochs have shown so far."""

    def __init__(
        self,
        hp: Hyperparameters,
        data: TrainingData,
        progress: Progress,
        pretrained: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.hp, self.data, self.progress = hp, data, progress
        torch.set_num_threads(hp.threads)
        self.preprocessing = Preprocessing(image_shape=hp.shape, fit="crop")  # as read_split read the training images
        self.mean = torch.tensor(self.preprocessing.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(self.preprocessing.std).view(1, 3, 1, 1)
        self.config = NetConfig(
            num_layers=hp.num_layers,
            width=hp.channels,
            num_classes=hp.num_classes,
            architecture=hp.architecture,
            members=hp.ensemble,
            downsample=downsample_for(hp.shape[1], hp.shape[2]),
        )
        self.net: Net = build(self.config, hp.seed)
        self.net.prepare(self.normalise(data.init_sample(hp.seed)))
        if pretrained is not None:  # after prepare: airbench's whitening filters come from the weights too
            loaded = load_backbone(self.net, pretrained, hp.pretrained_weights or "pretrained_weights")
            progress.log(f"Transfer learning: {loaded} backbone tensors from {hp.pretrained_weights}, a new head")
        self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ema: Net | None = copy.deepcopy(self.net) if hp.ema_decay else None
        # Fine-tuning: the pretrained layers move at backbone_lr_factor of the rate, the new head at the full rate.
        self.optimizer = make_optimizer(self.net, hp, hp.backbone_lr_factor if pretrained is not None else 1.0)
        self.batch_size = min(hp.mini_batch_size, len(data.y_train))
        self.steps_per_epoch = len(data.y_train) // self.batch_size  # drop the ragged last batch
        self.schedule = lr_multiplier(hp, self.steps_per_epoch)
        self.generator = torch.Generator().manual_seed(hp.seed)
        self.weights = class_weights(data.y_train, hp.num_classes) if hp.use_weighted_loss else None
        self.step = 0
        self.history: list[Epoch] = []
        self.best: Epoch | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def model(self) -> Net:
        """The weights validated and exported: the moving average when there is one."""
        return self.ema if self.ema is not None else self.net

    def run_epoch(self, epoch: int) -> Epoch:
        """One pass over the training images in mini-batches, then validation; keeps the best epoch."""
        started = time.monotonic()
        self.net.train()
        order = torch.randperm(len(self.data.y_train), generator=self.generator)
        loss_sum, correct, seen = 0.0, 0, 0
        images = self.data.train_batches(order, self.batch_size, self.steps_per_epoch)
        for i, batch in enumerate(images):
            y = self.data.y_train[order[i * self.batch_size : (i + 1) * self.batch_size]]
            x, target = mix(augment(batch, self.hp, self.generator), y, self.hp, self.generator)
            size = training_size(self.hp, epoch)
            if size is not None:  # progressive resizing: the augmented batch, scaled down (the nets pool globally)
                x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            x = self.normalise(x)
            for group in self.optimizer.param_groups:
                group["lr"] = self.hp.learning_rate * self.schedule(self.step) * group["lr_scale"]
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
        val_logits = self.validation_logits()
        result = Epoch(
            epoch=epoch,
            train_loss=loss_sum / seen,
            train_accuracy=correct / seen,
            validation_loss=float(F.cross_entropy(val_logits, self.data.y_val)),
            validation_accuracy=float((val_logits.argmax(1) == self.data.y_val).float().mean()),
            seconds=time.monotonic() - started,
            learning_rate=self.optimizer.param_groups[-1]["lr"],  # the head's: the full scheduled rate
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
        smoothing = self.hp.label_smoothing
        losses = [F.cross_entropy(o, target, weight=self.weights, label_smoothing=smoothing) for o in outputs]
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
    def logits(self, x: torch.Tensor | Iterable[torch.Tensor], model: Net | None = None) -> torch.Tensor:
        """Evaluation logits of images (a tensor, or batches of them), averaged over the exported graph's views."""
        model = model or self.model
        model.eval()
        chunks = (x[start : start + 256] for start in range(0, len(x), 256)) if isinstance(x, torch.Tensor) else x
        out = []
        for chunk in chunks:
            batch = self.normalise(chunk)
            out.append(model.classify(tta_embed(model, batch, self.hp.test_time_flip, self.hp.test_time_shift)))
        return torch.cat(out)

    def validation_logits(self, model: Net | None = None) -> torch.Tensor:
        """`logits` of the validation channel, in order (in memory or streamed)."""
        return self.logits(self.data.validation_batches(), model)

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

    def summary(self, seconds: float, temperature: float) -> dict[str, Any]:
        """The job's metrics: the kept epoch, the speed and every epoch, with the export's softmax temperature."""
        assert self.best is not None
        images = len(self.data.y_train) * len(self.history)
        train_seconds = sum(e.seconds for e in self.history)
        return {
            "best_epoch": self.best.epoch,
            "validation_accuracy": self.best.validation_accuracy,
            "train_accuracy": self.best.train_accuracy,
            "epochs_run": len(self.history),
            "temperature": temperature,
            "images_per_second": images / train_seconds if train_seconds else 0.0,
            "seconds": seconds,
            "epochs": [asdict(e) for e in self.history],
        }
