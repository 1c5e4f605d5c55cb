"""From the kept epoch to the stored artifact: calibrate, export ONNX, verify, pack, plot.

The temperature is fitted on the validation channel (minimum negative log-likelihood), then
the net, the mirror-image average and the temperature become one ONNX graph with a dynamic
batch. ONNX Runtime must reproduce PyTorch within 1e-5 before anything is stored.
"""

from __future__ import annotations

import io
import logging
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scones import state
from scones.config import Settings
from scones.errors import ArtifactError
from scones.model import jobs
from scones.model.artifact import Artifact, Manifest, sha256
from scones.model.net import Exported, Net
from scones.model.plot import accuracy_plot
from scones.model.run import Run
from scones.storage import Store

TOLERANCE = 1e-5  # ONNX Runtime vs PyTorch, on probabilities and on the scaled embedding
OPSET = 17


@dataclass(frozen=True)
class Published:
    """What `publish` stored and fitted: the artifact's URI and the softmax temperature."""

    uri: str
    temperature: float


def publish(
    settings: Settings, store: Store, name: str, run: Run, seconds: float, log: Callable[[str], None]
) -> Published:
    """Calibrate and export the kept epoch; store model.tar.gz and metrics.png (`seconds`: the job's so far)."""
    model = run.best_model()
    val_logits = run.validation_logits(model)
    temperature = 1.0
    if run.hp.calibrate:
        temperature = fit_temperature(val_logits, run.data.y_val)
        log(f"Calibration: softmax temperature {temperature:.3f} fitted on the validation channel")
    metrics = run.summary(seconds, temperature)
    exported = Exported(model, temperature=temperature, flip=run.hp.test_time_flip, shift=run.hp.test_time_shift).eval()
    onnx_bytes = to_onnx(exported, run.preprocessing.image_shape)
    sample = run.normalise(run.data.validation_head(64)).contiguous()
    verify(onnx_bytes, exported, sample)
    manifest = Manifest(
        classes=run.data.classes,
        preprocessing=run.preprocessing,
        embedding_dim=model.config.embedding_dim,
        training_job=name,
        data_checksum=run.data.checksum,
        metrics={k: v for k, v in metrics.items() if k != "epochs"},
        hyperparameters=run.hp.as_dict(),
        versions=versions(),
        model_sha256=sha256(onnx_bytes),
        created=state.now(),
    )
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)  # what `-p use_pretrained_model=1` can start a later job from
    artifact = Artifact(manifest=manifest, onnx=onnx_bytes, weights=weights.getvalue())
    store.put(settings.bucket, jobs.model_key(name), artifact.pack())
    store.put(settings.bucket, jobs.plot_key(name), accuracy_plot(metrics["epochs"], metrics["best_epoch"], name))
    return Published(jobs.default_artifact_uri(settings, name), temperature)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The softmax temperature in [0.25, 4] minimising validation NLL (a 1-D grid: robust, exact enough)."""
    grid = torch.exp(torch.linspace(np.log(0.25), np.log(4.0), 121))
    losses = torch.stack([F.cross_entropy(logits / t, labels) for t in grid])
    return round(float(grid[int(losses.argmin())]), 4)


def to_onnx(module: torch.nn.Module, image_shape: tuple[int, int, int]) -> bytes:
    """ONNX bytes with input "input" (N, C, H, W) and outputs "probabilities", "embedding"; N dynamic.

    Uses the TorchScript exporter: it folds BatchNorm into the convolutions and runs in a
    fraction of a second, where the torch.export-based one takes tens of seconds on 2 cores.
    """
    example = torch.zeros(2, *image_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
        # The 1-pixel shifted views trace to a reversed Slice that is left unfolded: harmless.
        warnings.filterwarnings("ignore", message=".*Only steps=1 can be constant folded.*")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]
            dynamo=False,
            input_names=["input"],
            output_names=["probabilities", "embedding"],
            dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}, "embedding": {0: "N"}},
            opset_version=OPSET,
        )
    return buffer.getvalue()


def verify(onnx_bytes: bytes, module: torch.nn.Module, x: torch.Tensor) -> None:
    """ONNX Runtime must give PyTorch's outputs within TOLERANCE; else ArtifactError, nothing stored."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(["probabilities", "embedding"], {"input": x.numpy()})
    with torch.no_grad():
        want = [t.numpy() for t in module(x)]
    for label, a, b in zip(("probabilities", "embedding"), got, want, strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        error = float(np.abs(a - b).max()) / scale
        if a.shape != b.shape or error > TOLERANCE:
            raise ArtifactError(
                f"ONNX export differs from PyTorch on {label} (max error {error:.2e} > {TOLERANCE}); "
                "the model was not stored: retry, or report the torch/onnxruntime versions"
            )


def versions() -> dict[str, str]:
    import onnxruntime

    import scones

    return {
        "scones": getattr(scones, "__version__", "0"),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def export_net(net: Net, temperature: float = 1.0, flip: bool = True, shift: bool = False) -> bytes:
    """A trained net as ONNX bytes (the graph the artifact holds)."""
    side = 32 * net.config.downsample  # a size at which the net runs at 32x32 inside
    return to_onnx(Exported(net, temperature, flip, shift).eval(), (net.config.in_channels, side, side))
