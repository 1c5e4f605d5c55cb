"""A window of captured data, summarised in one streaming pass with bounded memory.

Counts that checks need exactly (records, classes, low-confidence answers, undecodable
inputs, error responses, labelled and correct answers) are kept exactly. Per-record values
(time, confidence, entropy, predicted class and the image features) go into a uniform
reservoir sample of at most `max_rows` rows: every record had the same chance to be kept, so
distribution tests on the sample are tests on the window. Images for the embedding test and
for the report's grid are two more small reservoirs. Memory is therefore bounded by the
configuration, not by the number of records.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scones.errors import BadImage
from scones.model.preprocess import decode
from scones.monitor.captured import CapturedRecord, ReadReport
from scones.monitor.features import FEATURES, image_features, output_summary
from scones.progress import NullProgress, Progress

# Columns of the row sample: the first four, then one per image feature.
COLUMNS: tuple[str, ...] = ("time", "max_probability", "entropy", "predicted", *FEATURES)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg", "application/x-image", "image/x-image")
COUNTS = (
    "records",
    "inputs",
    "decoded",
    "undecodable",
    "outputs",
    "error_responses",
    "wrong_class_count",
    "low_confidence",
    "unexpected_content_type",
    "blank_images",
    "odd_size",
    "labelled",
    "correct",
)
_PNG = b"\x89PNG\r\n\x1a\n"


class Reservoir:
    """A uniform sample of at most `capacity` rows of a stream (Algorithm R, vectorised per batch).

    `add(*arrays)` takes aligned arrays (same length); they are sampled together.
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.seen = 0
        self._rng = rng
        self._arrays: list[np.ndarray] = []

    def add(self, *arrays: np.ndarray) -> None:
        n = len(arrays[0])
        if n == 0 or self.capacity <= 0:
            self.seen += n
            return
        if not self._arrays:
            self._arrays = [np.empty((self.capacity, *a.shape[1:]), dtype=a.dtype) for a in arrays]
        filled = min(self.seen, self.capacity)
        take = min(n, self.capacity - filled)
        for buffer, array in zip(self._arrays, arrays, strict=True):
            buffer[filled : filled + take] = array[:take]
        if take < n:
            # Item number i (0-based over the stream) replaces slot j ~ U{0..i} when j < capacity.
            numbers = np.arange(self.seen + take, self.seen + n)
            slots = self._rng.integers(0, numbers + 1)
            keep = slots < self.capacity
            for buffer, array in zip(self._arrays, arrays, strict=True):
                buffer[slots[keep]] = array[take:][keep]  # repeated slots: the later item wins, as in order
        self.seen += n

    def arrays(self) -> list[np.ndarray]:
        size = min(self.seen, self.capacity)
        return [a[:size] for a in self._arrays]


@dataclass
class Window:
    """What a monitoring run knows about a window of captured data."""

    classes: list[str]
    threshold: float
    counts: dict[str, int]
    class_counts: np.ndarray  # (K,) exact predicted-class counts
    rows: np.ndarray  # (n, len(COLUMNS)) reservoir sample; NaN where a value is missing
    embedding_images: np.ndarray  # (k, H, W, 3) uint8 reservoir of decoded inputs
    grid: dict[str, np.ndarray]  # images, time, predicted, max_probability (a small reservoir)
    time_range: tuple[float | None, float | None]
    read: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # items each reservoir was drawn from

    def column(self, name: str) -> np.ndarray:
        """One column of the row sample without its missing values."""
        values: np.ndarray = self.rows[:, COLUMNS.index(name)]
        present: np.ndarray = values[~np.isnan(values)]
        return present

    def features(self) -> np.ndarray:
        """(n, len(FEATURES)) image features of the sampled records that had a decodable image."""
        block: np.ndarray = self.rows[:, 4:]
        complete: np.ndarray = block[~np.isnan(block).any(axis=1)]
        return complete

    def rate(self, count: str, of: str) -> float:
        return self.counts[count] / self.counts[of] if self.counts[of] else 0.0


class WindowBuilder:
    """Feed captured records with `add`; `finish` returns the Window. Work happens per batch."""

    def __init__(
        self,
        classes: Sequence[str],
        threshold: float,
        limits: Any,
        labels: Mapping[str, int] | None = None,
        image_size: tuple[int, int] = (32, 32),
        seed: int | None = None,
        fit: tuple[str, str] = ("bilinear", "stretch"),
    ) -> None:
        self.classes = list(classes)
        self.threshold = threshold
        self.limits = limits
        self.labels = labels or {}
        self.image_size = image_size
        self.resize, self.fit = fit  # the model's Preprocessing.resize and .fit: inputs are seen as it sees them
        rng = np.random.default_rng(limits.seed if seed is None else seed)
        self.counts = dict.fromkeys(COUNTS, 0)
        self.class_counts = np.zeros(len(self.classes), dtype=np.int64)
        self.rows = Reservoir(limits.max_rows, rng)
        self.embedding = Reservoir(limits.embedding_sample, rng)
        self.grid = Reservoir(limits.grid_images, rng)
        self.time_min: float | None = None
        self.time_max: float | None = None
        self._batch: list[CapturedRecord] = []

    def add(self, record: CapturedRecord) -> None:
        self._batch.append(record)
        if len(self._batch) >= self.limits.batch_size:
            self._flush()

    def add_all(self, records: Iterable[CapturedRecord], progress: Progress | None = None) -> None:
        progress = progress or NullProgress()
        for record in records:
            self.add(record)
            if len(self._batch) == 0:
                progress.advance(self.limits.batch_size)

    def finish(self, read: ReadReport | None = None) -> Window:
        self._flush()
        rows = self.rows.arrays()
        embedding = self.embedding.arrays()
        grid = self.grid.arrays()
        height, width = self.image_size
        empty_images = np.empty((0, height, width, 3), np.uint8)
        return Window(
            classes=self.classes,
            threshold=self.threshold,
            counts=dict(self.counts),
            class_counts=self.class_counts.copy(),
            rows=rows[0] if rows else np.empty((0, len(COLUMNS))),
            embedding_images=embedding[0] if embedding else empty_images,
            grid=dict(zip(("images", "time", "predicted", "max_probability"), grid, strict=True))
            if grid
            else {
                "images": empty_images,
                "time": np.empty(0),
                "predicted": np.empty(0),
                "max_probability": np.empty(0),
            },
            time_range=(self.time_min, self.time_max),
            read=read.as_dict() if read else {},
            seen={"rows": self.rows.seen, "embedding": self.embedding.seen, "grid": self.grid.seen},
        )

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        n = len(batch)
        counts = self.counts
        counts["records"] += n
        rows = np.full((n, len(COLUMNS)), np.nan)
        times = [r.time for r in batch if r.time is not None]
        if times:
            self.time_min = min(times) if self.time_min is None else min(self.time_min, min(times))
            self.time_max = max(times) if self.time_max is None else max(self.time_max, max(times))
        rows[:, 0] = [np.nan if r.time is None else r.time for r in batch]
        self._outputs(batch, rows)
        images, decoded_at = self._decode(batch)
        if len(images):
            features = image_features(images)
            rows[decoded_at, 4:] = features
            counts["blank_images"] += int((features[:, FEATURES.index("contrast")] < 1 / 255).sum())
            self.embedding.add(images)
            has_output = ~np.isnan(rows[decoded_at, 1])
            if has_output.any():
                at = decoded_at[has_output]
                self.grid.add(images[has_output], rows[at, 0], rows[at, 3], rows[at, 1])
        self.rows.add(rows)

    def _outputs(self, batch: list[CapturedRecord], rows: np.ndarray) -> None:
        k = len(self.classes)
        at = []
        vectors = []
        for i, record in enumerate(batch):
            if record.output is None:
                if record.output_problem != "response not captured":
                    self.counts["error_responses"] += 1
                continue
            if len(record.output) != k:
                self.counts["wrong_class_count"] += 1
                continue
            at.append(i)
            vectors.append(record.output)
        if not at:
            return
        predicted, max_prob, entropy = output_summary(np.asarray(vectors))
        index = np.asarray(at)
        rows[index, 1], rows[index, 2], rows[index, 3] = max_prob, entropy, predicted
        self.counts["outputs"] += len(at)
        self.counts["low_confidence"] += int((max_prob < self.threshold).sum())
        self.class_counts += np.bincount(predicted, minlength=k)
        if self.labels:
            for i, cls in zip(at, predicted, strict=True):
                record = batch[i]
                label = self.labels.get(record.inference_id or "")
                if label is None:
                    label = self.labels.get(record.event_id or "")
                if label is not None:
                    self.counts["labelled"] += 1
                    self.counts["correct"] += int(label == cls)

    def _decode(self, batch: list[CapturedRecord]) -> tuple[np.ndarray, np.ndarray]:
        images = []
        at = []
        for i, record in enumerate(batch):
            if record.input is None:
                if record.input_problem != "request not captured":  # captured but unreadable
                    self.counts["inputs"] += 1
                    self.counts["undecodable"] += 1
                continue
            self.counts["inputs"] += 1
            content_type = (record.input_content_type or "").split(";")[0].strip().lower()
            if content_type not in IMAGE_TYPES:
                self.counts["unexpected_content_type"] += 1
            if _odd_size(record.input, self.image_size):
                self.counts["odd_size"] += 1
            try:
                images.append(decode(record.input, self.image_size, self.resize, self.fit))
            except BadImage:
                self.counts["undecodable"] += 1
                continue
            at.append(i)
        self.counts["decoded"] += len(at)
        if not images:
            return np.empty((0, *self.image_size, 3), np.uint8), np.empty(0, np.int64)
        return np.stack(images), np.asarray(at, dtype=np.int64)


def _odd_size(data: bytes, size: tuple[int, int]) -> bool:
    """True when the image declares a size other than the model's, read from its header only.

    PNG, what the seed's clients send, is read here directly; other formats (a phone's JPEG)
    through Pillow, which parses the header without decoding the pixels. Unreadable bytes are
    not odd: the decode counts them as undecodable, and refuses a decompression bomb, so reading
    a large image's size here must not warn about it too.
    """
    if len(data) >= 24 and data.startswith(_PNG):
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        return (height, width) != size
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False
    return (height, width) != size
