"""`scones evaluate`: how a model artifact does on a staged split, measured with ONNX Runtime.

The artifact is run exactly as the endpoint runs it (ONNX Runtime, the manifest's
preprocessing), never through PyTorch. Reports accuracy, per-class precision, recall and F1
with their macro averages,
the confusion matrix, the share of predictions whose top probability passes the threshold
(what the stage-3 filter lets through) and the expected calibration error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scones.config import Settings
from scones.errors import ArtifactError, TrainingError
from scones.model import artifact as artifact_module
from scones.model.artifact import Artifact
from scones.model.preprocess import to_input
from scones.progress import NullProgress, Progress
from scones.storage import Store

ECE_BINS = 15
BATCH = 256  # images decoded and answered together


@dataclass(frozen=True)
class Evaluation:
    model: str
    data: str
    images: int
    classes: list[str]
    accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    threshold: float
    confident_share: float  # share of predictions with top probability >= threshold
    confident_accuracy: float | None  # accuracy among those
    expected_calibration_error: float
    f1: dict[str, float]  # per class: the harmonic mean of its precision and recall
    macro: dict[str, float]  # precision, recall and f1 averaged over classes, each class counting once

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_model(settings: Settings, model: str) -> str:
    """A training job name, an s3:// URI, or a local path -> an artifact location."""
    if model.startswith("s3://") or "/" in model or model.endswith((".tar.gz", ".tgz")):
        return model
    from scones.model.jobs import artifact_uri, get

    if get(settings, model) is not None:
        return artifact_uri(settings, model)
    from pathlib import Path

    if Path(model).exists():
        return model
    raise TrainingError(f"no training job {model}; run 'scones training-jobs', or give an s3:// URI or a path")


def predict(art: Artifact, images: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> probabilities (N, classes), with ONNX Runtime."""
    return predict_batches(art, (images[i : i + batch] for i in range(0, len(images), batch)))


def predict_batches(art: Artifact, batches: Iterable[np.ndarray], progress: Progress | None = None) -> np.ndarray:
    """Each uint8 (B, H, W, 3) RGB batch in turn -> probabilities (N, classes), with ONNX Runtime."""
    import onnxruntime as ort

    progress = progress or NullProgress()
    try:
        session = ort.InferenceSession(art.onnx, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ArtifactError(
            f"The model's ONNX graph cannot be loaded ({exc}); re-export it with 'scones train'"
        ) from exc
    name = art.manifest.input_name
    outputs = []
    for images in batches:
        outputs.append(session.run([art.manifest.output_name], {name: to_input(images, art.manifest.preprocessing)})[0])
        progress.advance(len(images))
    return np.concatenate(outputs) if outputs else np.zeros((0, len(art.classes)), dtype=np.float32)


def metrics(probabilities: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float) -> dict[str, Any]:
    """The evaluation figures for given probabilities and true labels."""
    k = len(classes)
    predicted = probabilities.argmax(1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    precision = {c: _ratio(confusion[i, i], confusion[:, i].sum()) for i, c in enumerate(classes)}
    recall = {c: _ratio(confusion[i, i], confusion[i, :].sum()) for i, c in enumerate(classes)}
    f1 = {c: _ratio(2 * precision[c] * recall[c], precision[c] + recall[c]) for c in classes}
    # With imbalanced classes accuracy hides a neglected small class; the macro average does not.
    macro = {
        name: float(np.mean(list(d.values()))) for name, d in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    top = probabilities.max(1)
    correct = predicted == labels
    confident = top >= threshold
    return {
        "accuracy": float(correct.mean()),
        "precision": precision,
        "recall": recall,
        "confusion": confusion.tolist(),
        "confident_share": float(confident.mean()),
        "confident_accuracy": float(correct[confident].mean()) if confident.any() else None,
        "expected_calibration_error": expected_calibration_error(top, correct),
        "f1": f1,
        "macro": macro,
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by bin share."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def evaluate(
    settings: Settings,
    model: str,
    images_uri: str,
    lst_uri: str,
    store: Store | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> Evaluation:
    """Evaluate `model` (job name, s3:// URI or path) on the split at images_uri + lst_uri.

    The split is streamed (`scones.model.loader`): `workers` processes decode BATCH images at a
    time while the model answers the previous batch, so memory is bounded by the batch, not the split.
    """
    from scones.data.dataset import index_split
    from scones.model.loader import in_groups, pixel_batches

    store = store or Store(settings)
    progress = progress or NullProgress()
    location = resolve_model(settings, model)
    art = artifact_module.load(location, store)
    _, height, width = art.manifest.preprocessing.image_shape
    split = index_split(store, images_uri, lst_uri, progress, size=(height, width), checksum=False)
    if int(split.labels.max()) >= len(art.classes):
        raise TrainingError(
            f"{lst_uri} has label {int(split.labels.max())} but the model knows {len(art.classes)} classes; "
            "evaluate on data staged with the same classes"
        )
    progress.start("Predicting", len(split))
    probabilities = predict_batches(art, pixel_batches(split, in_groups(len(split), BATCH), workers), progress)
    figures = metrics(probabilities, split.labels, art.classes, settings.threshold)
    return Evaluation(
        model=location, data=lst_uri, images=len(split), classes=art.classes, threshold=settings.threshold, **figures
    )


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0
