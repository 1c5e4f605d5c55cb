"""The baseline: what normal looks like, computed from the model's own data.

Image features come from the training images (the inputs the model knows); the model's
outputs (class mix, confidence, accuracy) and embeddings come from the held-out split, since
answers on training images are over-confident. A baseline lives in a folder of the store:

    statistics.json    SageMaker-shaped summaries (features, class mix, confidence)
    constraints.json   the checks and their thresholds (edit to tune the monitor)
    reference.npz      the reference samples the tests compare windows with
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scones.errors import MonitorError, ObjectNotFound, StorageError
from scones.keys import join_key, parse_s3_uri
from scones.monitor import statistics
from scones.monitor.constraints import MonitorConfig, config_from_constraints, constraints_document
from scones.monitor.features import FEATURES, OnnxModel, image_features, output_summary
from scones.state import now
from scones.storage import Store

if TYPE_CHECKING:
    from scones.data.dataset import SplitIndex

logger = logging.getLogger(__name__)

FILES = ("statistics.json", "constraints.json", "reference.npz")
EMBEDDING_REFERENCE = 2000  # reference embeddings kept; each run samples config.embedding_sample of them


@dataclass
class Baseline:
    """Reference samples and the thresholds a window is checked against."""

    meta: dict[str, Any]  # name, model, classes, threshold, data, created, notes
    features: np.ndarray  # (n, len(FEATURES)) image features of training images
    predicted: np.ndarray  # (m,) predicted class on the held-out split
    max_probability: np.ndarray  # (m,)
    entropy: np.ndarray  # (m,)
    labels: np.ndarray | None  # (m,) true classes of the held-out split
    embeddings: np.ndarray | None  # (k, d) penultimate layer on the held-out split
    config: MonitorConfig = field(default_factory=MonitorConfig)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.predicted, minlength=len(self.classes))

    @property
    def correct(self) -> int:
        return 0 if self.labels is None else int((self.predicted == self.labels).sum())

    def statistics(self) -> dict[str, Any]:
        features = [statistics.numeric_feature(f"image.{n}", self.features[:, j]) for j, n in enumerate(FEATURES)]
        features.append(statistics.numeric_feature("max_probability", self.max_probability))
        features.append(statistics.numeric_feature("entropy", self.entropy))
        counts = dict(zip(self.classes, map(int, self.class_counts), strict=True))
        features.append(statistics.categorical_feature("predicted_label", counts))
        threshold = float(self.meta["threshold"])
        extra = {
            "kind": "baseline",
            **self.meta,
            "held_out": len(self.predicted),
            "training_images": len(self.features),
            "low_confidence_rate": float((self.max_probability < threshold).mean()) if len(self.predicted) else None,
            "accuracy": self.correct / len(self.labels) if self.labels is not None and len(self.labels) else None,
        }
        if self.meta.get("label_prior"):
            extra["label_prior"] = self.meta["label_prior"]
        return statistics.document(len(self.features), features, extra)


def compute(
    model: OnnxModel,
    training_images: np.ndarray | SplitIndex,
    held_out_images: np.ndarray | SplitIndex,
    held_out_labels: np.ndarray | None,
    meta: dict[str, Any],
    config: MonitorConfig,
    workers: int = 2,
) -> Baseline:
    """A baseline from uint8 (N, H, W, 3) images, or from staged splits streamed a batch at a time.

    A `SplitIndex` is decoded `config.batch_size` images at a time by `workers` loader
    processes, so memory is bounded by the batch, not the split; the figures are the ones the
    same images in memory give. `meta` must name classes and threshold.
    """
    if len(held_out_images) < 2 or len(training_images) < 2:
        raise MonitorError("A baseline needs at least 2 training and 2 held-out images; stage the data first")
    rng = np.random.default_rng(config.seed)
    rows = np.arange(len(training_images))
    if len(training_images) > config.max_rows:
        rows = np.sort(rng.choice(len(training_images), config.max_rows, replace=False))
    feature_rows = np.concatenate(
        [image_features(batch) for batch in _batches(training_images, rows, config.batch_size, workers)]
    )
    held_out = _batches(held_out_images, np.arange(len(held_out_images)), config.batch_size, workers)
    probabilities, embeddings = model.predict_batches(held_out)
    predicted, max_prob, entropy = output_summary(probabilities)
    if embeddings is not None and len(embeddings) > EMBEDDING_REFERENCE:
        embeddings = embeddings[np.sort(rng.choice(len(embeddings), EMBEDDING_REFERENCE, replace=False))]
    meta = {"created": now(), **meta, "classes": list(model.manifest.classes)}
    return Baseline(meta, feature_rows, predicted, max_prob, entropy, held_out_labels, embeddings, config)


def _batches(images: np.ndarray | SplitIndex, rows: np.ndarray, size: int, workers: int) -> Iterator[np.ndarray]:
    """uint8 (B, H, W, 3) of `rows`, `size` at a time: sliced from memory, or read and decoded by the loader."""
    groups = [rows[start : start + size] for start in range(0, len(rows), size)]
    if isinstance(images, np.ndarray):
        yield from (images[group] for group in groups)
        return
    from scones.model.loader import pixel_batches  # torch: imported only when a split is streamed

    yield from pixel_batches(images, [group.tolist() for group in groups], workers)


def save(store: Store, baseline: Baseline, uri: str) -> str:
    """Write the baseline's three files under `uri` (an s3:// prefix); returns the prefix URI."""
    bucket, prefix = parse_s3_uri(uri)
    stats = baseline.statistics()
    arrays: dict[str, np.ndarray] = {
        "features": baseline.features,
        "predicted": baseline.predicted,
        "max_probability": baseline.max_probability,
        "entropy": baseline.entropy,
    }
    if baseline.labels is not None:
        arrays["labels"] = baseline.labels
    if baseline.embeddings is not None:
        arrays["embeddings"] = baseline.embeddings
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    constraints = constraints_document(baseline.config, stats["features"])
    # The reference samples first, the two JSON documents last: a baseline is usable only once
    # constraints.json exists, so an interrupted write never looks like a complete baseline.
    store.put(bucket, join_key(prefix, "reference.npz"), buffer.getvalue())
    store.put(bucket, join_key(prefix, "statistics.json"), _json(stats))
    store.put(bucket, join_key(prefix, "constraints.json"), _json(constraints))
    return uri.rstrip("/")


def load(store: Store, uri: str) -> Baseline:
    """Read a baseline folder (s3:// prefix on the store, or a local folder)."""
    stats = json.loads(_read(store, uri, "statistics.json"))
    constraints = json.loads(_read(store, uri, "constraints.json"))
    config = config_from_constraints(constraints, f"{uri}/constraints.json")
    try:
        with np.load(io.BytesIO(_read(store, uri, "reference.npz")), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise MonitorError(
            f"{uri}/reference.npz is corrupt ({exc}); re-create it with 'scones monitor baseline'"
        ) from exc
    meta = {
        k: v
        for k, v in stats.get("scones", {}).items()
        if k in ("name", "model", "classes", "threshold", "data", "created", "notes", "model_sha256")
    }
    if "classes" not in meta or "threshold" not in meta:
        raise MonitorError(
            f"{uri}/statistics.json lacks classes or threshold; re-create it with 'scones monitor baseline'"
        )
    if arrays.get("features") is None or arrays["features"].shape[1:] != (len(FEATURES),):
        raise MonitorError(f"{uri} was made with other image features; re-create it with 'scones monitor baseline'")
    return Baseline(
        meta=meta,
        features=arrays["features"],
        predicted=arrays["predicted"].astype(np.int64),
        max_probability=arrays["max_probability"],
        entropy=arrays["entropy"],
        labels=arrays["labels"].astype(np.int64) if "labels" in arrays else None,
        embeddings=arrays.get("embeddings"),
        config=config,
    )


def exists(store: Store, uri: str) -> bool:
    try:
        _read(store, uri, "constraints.json")
    except MonitorError:
        return False
    return True


def _read(store: Store, uri: str, name: str) -> bytes:
    location = f"{uri.rstrip('/')}/{name}"
    try:
        if uri.startswith("s3://"):
            bucket, prefix = parse_s3_uri(uri)
            return store.get(bucket, join_key(prefix, name))
        from pathlib import Path

        return (Path(uri).expanduser() / name).read_bytes()
    except (ObjectNotFound, FileNotFoundError, NotADirectoryError) as exc:
        raise MonitorError(
            f"No baseline file {location}; create the baseline with 'scones monitor baseline' or pass --baseline"
        ) from exc
    except (StorageError, OSError) as exc:
        raise MonitorError(f"Cannot read {location} ({exc}); check the location") from exc


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, default=plain).encode()


def plain(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
