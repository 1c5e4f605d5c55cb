"""Reading a window of captured data, in this process or spread over worker processes.

Decoding every PNG is the cost of a monitoring run (about 0.1-0.3 ms per image), so large
windows are split by file into chunks that worker processes summarise independently; the
partial windows are then merged. Exact counts add up; each reservoir sample is merged into
a uniform sample of the union (how many rows come from each part is drawn from the
hypergeometric distribution of their sizes), so the result is distributed exactly as if
one process had read everything. Workers are spawned, not forked: the parent may hold ONNX
Runtime or progress-bar threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from scones.config import Settings
from scones.monitor.captured import MAX_EXAMPLES, CaptureFile, ReadReport, iter_records, list_files, wanted
from scones.monitor.constraints import MonitorConfig
from scones.monitor.window import Window, WindowBuilder
from scones.progress import NullProgress, Progress
from scones.storage import Store

CHUNKS_PER_WORKER = 4  # a few chunks each keeps workers busy when chunks take unequal time


@dataclass(frozen=True)
class WindowSpec:
    """What a window is measured against: the baseline's classes, threshold, limits and labels."""

    classes: list[str]
    threshold: float
    config: MonitorConfig
    labels: dict[str, int] | None = None
    image_size: tuple[int, int] = (32, 32)
    fit: tuple[str, str] = ("bilinear", "stretch")  # the model's (resize, fit); a model-less baseline: stretch

    def builder(self, seed: int | None = None) -> WindowBuilder:
        return WindowBuilder(self.classes, self.threshold, self.config, self.labels, self.image_size, seed, self.fit)


def read_window(
    store: Store,
    location: str,
    spec: WindowSpec,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> Window:
    """Summarise every captured record under `location` in [since, until)."""
    progress = progress or NullProgress()
    lo = since.timestamp() if since else -math.inf
    hi = until.timestamp() if until else math.inf
    files = list_files(store, location)
    chosen = [f for f in files if wanted(f.name or location.rstrip("/"), lo, hi)]
    workers = spec.config.workers
    total = sum(f.size for f in chosen)
    if workers <= 1 or total < spec.config.parallel_min_mb * 1024 * 1024 or len(chosen) < 2:
        report = ReadReport()
        builder = spec.builder()
        progress.start(f"Reading {location}", None)
        builder.add_all(iter_records(store, location, since, until, report, files), progress)
        return builder.finish(report)
    chunks = _chunks(chosen, workers * CHUNKS_PER_WORKER)
    progress.start(f"Reading {location} ({workers} processes)", len(chosen))
    parts: list[tuple[int, Window]] = []
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            pool.submit(_read_part, store.settings, location, (since, until), chunk, spec, i): (i, len(chunk))
            for i, chunk in enumerate(chunks)
        }
        for future in as_completed(futures):
            index, count = futures[future]
            parts.append((index, future.result()))
            progress.advance(count)
    merged = merge([w for _, w in sorted(parts, key=lambda p: p[0])], spec.config)
    merged.read["skipped_files"] += len(files) - len(chosen)
    return merged


def _chunks(files: list[CaptureFile], count: int) -> list[list[CaptureFile]]:
    """Consecutive runs of files of about equal total size."""
    target = sum(f.size for f in files) / count
    chunks: list[list[CaptureFile]] = [[]]
    size = 0
    for file in files:
        if chunks[-1] and size >= target:
            chunks.append([])
            size = 0
        chunks[-1].append(file)
        size += file.size
    return chunks


def _read_part(
    settings: Settings,
    location: str,
    window: tuple[datetime | None, datetime | None],
    files: list[CaptureFile],
    spec: WindowSpec,
    index: int,
) -> Window:
    """Worker process: the partial window of some files (a seed of its own per chunk)."""
    report = ReadReport()
    builder = spec.builder(seed=spec.config.seed * 1_000_003 + index + 1)
    builder.add_all(iter_records(Store(settings), location, window[0], window[1], report, files))
    return builder.finish(report)


def merge(parts: Sequence[Window], config: MonitorConfig) -> Window:
    """One window from partial windows of disjoint records (samples stay uniform)."""
    rng = np.random.default_rng(config.seed)
    first = parts[0]
    counts = {k: sum(p.counts[k] for p in parts) for k in first.counts}
    starts = [p.time_range[0] for p in parts if p.time_range[0] is not None]
    ends = [p.time_range[1] for p in parts if p.time_range[1] is not None]
    rows, rows_seen = _merge_samples([([p.rows], p.seen["rows"]) for p in parts], config.max_rows, rng)
    embedding, embedding_seen = _merge_samples(
        [([p.embedding_images], p.seen["embedding"]) for p in parts], config.embedding_sample, rng
    )
    grid_keys = ("images", "time", "predicted", "max_probability")
    grid, grid_seen = _merge_samples(
        [([p.grid[k] for k in grid_keys], p.seen["grid"]) for p in parts], config.grid_images, rng
    )
    read: dict[str, Any] = {k: sum(int(p.read.get(k, 0)) for p in parts) for k in first.read if k != "problems"}
    read["problems"] = [m for p in parts for m in p.read.get("problems", [])][:MAX_EXAMPLES]
    return Window(
        classes=first.classes,
        threshold=first.threshold,
        counts=counts,
        class_counts=np.sum([p.class_counts for p in parts], axis=0),
        rows=rows[0],
        embedding_images=embedding[0],
        grid=dict(zip(grid_keys, grid, strict=True)),
        time_range=(min(starts) if starts else None, max(ends) if ends else None),
        read=read,
        seen={"rows": rows_seen, "embedding": embedding_seen, "grid": grid_seen},
    )


def _merge_samples(
    parts: list[tuple[list[np.ndarray], int]], capacity: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], int]:
    """Merge uniform samples (arrays, items seen) pairwise into one uniform sample of the union."""
    arrays, seen = parts[0]
    for other, other_seen in parts[1:]:
        keep = min(capacity, seen + other_seen)
        if keep == 0:
            seen += other_seen
            continue
        # rows taken from the first part ~ Hypergeometric(seen, other_seen, keep): exactly the split a
        # uniform sample of the union would have; each side then gives a uniform subset of its sample.
        from_first = int(rng.hypergeometric(seen, other_seen, keep)) if seen and other_seen else (keep if seen else 0)
        pick_a = rng.choice(len(arrays[0]), from_first, replace=False)
        pick_b = rng.choice(len(other[0]), keep - from_first, replace=False)
        arrays = [np.concatenate([a[pick_a], b[pick_b]]) for a, b in zip(arrays, other, strict=True)]
        seen += other_seen
    return arrays, seen
