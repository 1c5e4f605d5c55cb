"""What the monitor measures about each inference: image features and model outputs.

Image features are computed in NumPy over a batch of decoded images (uint8 (N, H, W, 3)),
so a million images cost a few vectorised passes, not a million Python calls. Each feature
is chosen to move under a shift that matters for a 32x32 photo classifier:

    brightness, contrast          darker / over-exposed / washed-out images
    saturation, red/green/blue    grayscale or colour-cast cameras
    edge_energy, sharpness        blurred (both fall) or noisy (both rise) images
    high_frequency                noise (pixel-level) versus real edges
    edge_orientation              rotated images: horizontal vs vertical edge energy
    top_bottom                    upside-down images: sky and ground swap places

Model outputs: the probability vector gives the predicted class, the max-probability
(confidence) and the normalised entropy (uncertainty); `OnnxModel` runs the artifact's ONNX
with ONNX Runtime to get probabilities and the penultimate-layer embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from scones.errors import MonitorError
from scones.model.artifact import Artifact
from scones.model.preprocess import to_input

logger = logging.getLogger(__name__)

FEATURES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "saturation",
    "red",
    "green",
    "blue",
    "edge_energy",
    "sharpness",
    "high_frequency",
    "edge_orientation",
    "top_bottom",
)
_LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as PIL's "L" mode
_EPS = np.float32(1e-6)


_CHUNK_PIXELS = 1 << 22  # pixels measured at once: ~20 float32 planes of this size are alive at the peak


def image_features(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> float32 (N, len(FEATURES)), columns in FEATURES order.

    Large images go in chunks of about 4 M pixels (83 images at 224x224; a batch of 32x32
    images in one), so the intermediates stay ~300 MB whatever the batch. Every figure is
    computed per image, so the chunking does not change a bit of the result.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise MonitorError(f"Expected images of shape (N, H, W, 3), got {images.shape}; decode them to RGB first")
    step = max(1, _CHUNK_PIXELS // max(1, images.shape[1] * images.shape[2]))
    if len(images) > step:
        return np.concatenate([_features(images[start : start + step]) for start in range(0, len(images), step)])
    return _features(images)


def _features(images: np.ndarray) -> np.ndarray:
    # Channel planes, contiguous: reductions over a size-3 last axis are ~10x slower in NumPy.
    planes = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32)
    planes *= np.float32(1 / 255)
    r, g, b = planes[:, 0], planes[:, 1], planes[:, 2]  # (N, H, W) each, in [0, 1]
    luma = _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b
    height = luma.shape[1]
    top_max = np.maximum(np.maximum(r, g), b)
    spread = top_max - np.minimum(np.minimum(r, g), b)
    saturation = _mean(np.divide(spread, top_max, out=np.zeros_like(spread), where=top_max > 0))
    gx = np.diff(luma, axis=2)  # horizontal differences respond to vertical edges
    gy = np.diff(luma, axis=1)
    ex = _mean(np.square(gx))
    ey = _mean(np.square(gy))
    lap = (
        4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:]
    )  # 4-neighbour Laplacian: pixel-level detail, what blur removes and noise adds
    sharpness = _mean(np.square(lap))
    edge_energy = ex + ey
    means = planes.reshape(len(planes), 3, -1).mean(axis=2)  # (N, 3)
    columns = [
        _mean(luma),
        luma.reshape(len(luma), -1).std(axis=1),
        saturation,
        means[:, 0],
        means[:, 1],
        means[:, 2],
        np.sqrt(edge_energy),
        np.sqrt(sharpness),
        sharpness / (edge_energy + _EPS),
        (ex - ey) / (edge_energy + _EPS),
        _mean(luma[:, : height // 2]) - _mean(luma[:, height // 2 :]),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def _mean(values: np.ndarray) -> np.ndarray:
    """Mean over all but the first axis (via reshape: faster than axis=(1, 2))."""
    means: np.ndarray = np.ascontiguousarray(values).reshape(len(values), -1).mean(axis=1)
    return means


def output_summary(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K) probabilities -> (predicted class int64, max-probability, entropy / log K in [0, 1])."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise MonitorError(f"Expected probabilities of shape (N, classes>=2), got {p.shape}")
    clipped = np.clip(p, 1e-12, 1.0)
    entropy = -(clipped * np.log(clipped)).sum(axis=1) / np.log(p.shape[1])
    return p.argmax(axis=1).astype(np.int64), p.max(axis=1), np.clip(entropy, 0.0, 1.0)


class OnnxModel:
    """An artifact's ONNX model on ONNX Runtime: images in, probabilities and embeddings out."""

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        import onnxruntime as ort

        self.artifact = artifact
        self.manifest = artifact.manifest
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(artifact.onnx, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types; translated at this boundary
            raise MonitorError(f"ONNX Runtime cannot load the model ({exc}); check the artifact") from exc
        outputs = {o.name for o in self._session.get_outputs()}
        if self.manifest.output_name not in outputs:
            raise MonitorError(f"The model has no '{self.manifest.output_name}' output; re-export the artifact")
        name = self.manifest.embedding_name
        self.embedding_name = name if name and name in outputs else None

    @property
    def image_size(self) -> tuple[int, int]:
        _, height, width = self.manifest.preprocessing.image_shape
        return height, width

    def predict(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, H, W, 3) -> (probabilities (N, K), embeddings (N, D) or None)."""
        return self.predict_batches(images[start : start + batch_size] for start in range(0, len(images), batch_size))

    def predict_batches(self, batches: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Each uint8 (B, H, W, 3) batch in turn -> (probabilities (N, K), embeddings (N, D) or None)."""
        wanted = [self.manifest.output_name] + ([self.embedding_name] if self.embedding_name else [])
        probs: list[np.ndarray] = []
        embeds: list[np.ndarray] = []
        for images in batches:
            batch = to_input(images, self.manifest.preprocessing)
            result = self._run(wanted, batch)
            probs.append(np.asarray(result[0], dtype=np.float32))
            if self.embedding_name:
                embeds.append(np.asarray(result[1], dtype=np.float32).reshape(len(batch), -1))
        classes = len(self.manifest.classes)
        probabilities = np.concatenate(probs) if probs else np.empty((0, classes), np.float32)
        if not self.embedding_name:
            return probabilities, None
        dim = embeds[0].shape[1] if embeds else int(self.manifest.embedding_dim or 0)
        return probabilities, (np.concatenate(embeds) if embeds else np.empty((0, dim), np.float32))

    def _run(self, wanted: list[str], batch: np.ndarray) -> list[Any]:
        try:
            return list(self._session.run(wanted, {self.manifest.input_name: batch}))
        except Exception as exc:  # ORT errors become MonitorError at this boundary
            raise MonitorError(f"ONNX Runtime failed on a batch of {len(batch)} images ({exc})") from exc
