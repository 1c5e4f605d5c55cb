"""Filling the review queue from captured data, incrementally.

`update` reads an endpoint's captured data (every variant, under
`{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/`, and the older layout without the variant)
from where it stopped last time: each file remembers how many bytes were read, so a refresh
reads only what was captured since, and a line still being written is read next time.
`selection` decides what enters. Items are unique per (endpoint, id), so reading a record twice
never duplicates it. A drift reported after its window was read is sampled by reading that
window's files (by their hour folders) once more, once per monitoring execution.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scones import state
from scones.config import Settings, resolve
from scones.monitor import runs
from scones.monitor.captured import (
    DEFAULT_VARIANT,
    CapturedRecord,
    hour_of,
    list_files,
    open_file,
    parse_record,
    wanted,
)
from scones.review import selection
from scones.review.selection import ReviewConfig
from scones.review.tables import Queue, connect, find_queue, transaction
from scones.storage import Store


@dataclass
class Refresh:
    """What a refresh read and added."""

    added: int = 0
    files: int = 0  # files with new bytes
    records: int = 0
    unusable: int = 0  # lines that are not capture records, or lack an image, an answer or an id
    drift_runs: int = 0  # monitoring executions with violations sampled this time

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def update(
    settings: Settings, endpoint: str, config: ReviewConfig | None = None, store: Store | None = None
) -> Refresh:
    """`refresh`, with the sampling shares given and what was read reported."""
    config = config or resolve(ReviewConfig)  # SCONES_SAMPLE_CONFIDENT, SCONES_SAMPLE_DRIFT, else defaults
    store = store or Store(settings)
    info = find_queue(settings, endpoint)
    result = Refresh()
    with connect(settings) as conn:
        with transaction(conn):
            conn.execute(
                "INSERT INTO review_queues (endpoint, capture, classes, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET capture=excluded.capture, classes=excluded.classes,"
                " updated=excluded.updated",
                (endpoint, info.capture, state.dumps(info.classes), state.now()),
            )
        files = [f for f in list_files(store, info.capture) if wanted(f.name or info.capture)]
        read = {
            row["name"]: row["offset"]
            for row in conn.execute(
                "SELECT name, offset FROM review_files WHERE endpoint=? AND location=?", (endpoint, info.capture)
            )
        }
        windows, fresh_runs = _drift_windows(settings, conn, endpoint)
        # A newly reported drift: sample the records of its window that were already read.
        for run_id, window in fresh_runs:
            for file in files:
                hour = hour_of(file.name)
                if read.get(file.name) and (hour is None or (hour + 3600 > window[0] and hour < window[1])):
                    rows, _, _ = _read(store, info, file.name, 0, read[file.name], [window], config, settings, True)
                    result.added += _insert(conn, rows)
            with transaction(conn):
                conn.execute("INSERT OR IGNORE INTO review_drift_runs VALUES (?, ?)", (endpoint, run_id))
            result.drift_runs += 1
        for file in files:
            start = read.get(file.name, 0)
            if file.size <= start:
                continue
            rows, end, counts = _read(store, info, file.name, start, file.size, windows, config, settings, False)
            result.files += 1
            result.records += counts[0]
            result.unusable += counts[1]
            with transaction(conn):
                result.added += _insert(conn, rows, own_transaction=False)
                conn.execute(
                    "INSERT INTO review_files (endpoint, location, name, offset) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET offset=MAX(offset, excluded.offset)",
                    (endpoint, info.capture, file.name, end),
                )
    return result


def _drift_windows(
    settings: Settings, conn: sqlite3.Connection, endpoint: str
) -> tuple[list[tuple[float, float]], list[tuple[str, tuple[float, float]]]]:
    """Windows of the endpoint's monitoring runs with violations, and those not sampled yet."""
    done = {r[0] for r in conn.execute("SELECT run_id FROM review_drift_runs WHERE endpoint=?", (endpoint,))}
    windows, fresh = [], []
    for run in runs.executions(settings, endpoint, limit=1000):
        if run.status != "CompletedWithViolations":
            continue
        window = (_epoch(run.window_since, float("-inf")), _epoch(run.window_until, float("inf")))
        windows.append(window)
        if run.run_id not in done:
            fresh.append((run.run_id, window))
    return windows, fresh


def _epoch(text: str | None, default: float) -> float:
    if not text:
        return default
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _read(
    store: Store,
    info: Queue,
    name: str,
    start: int,
    end: int,
    windows: list[tuple[float, float]],
    config: ReviewConfig,
    settings: Settings,
    drift_only: bool,
) -> tuple[list[tuple[Any, ...]], int, tuple[int, int]]:
    """Rows to insert from bytes start..end of one file, where reading stopped, and (records, unusable)."""
    with open_file(store, info.capture, name) as handle:
        handle.seek(start)
        data = handle.read(end - start)
    complete = data[: data.rfind(b"\n") + 1]  # a last line without its newline is read next time
    variant = _variant(name)
    rows: list[tuple[Any, ...]] = []
    records = unusable = 0
    number = 0
    for number, line in enumerate(complete.split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = parse_record(line, f"{name}:{start}+{number}")
        except ValueError:
            unusable += 1
            continue
        if not (record.input and record.output and record.event_id and record.key):
            unusable += 1
            continue
        records += 1
        confidence = max(record.output)
        in_drift = record.time is not None and any(lo <= record.time < hi for lo, hi in windows)
        why = None if drift_only else selection.reason(record.event_id, confidence, settings.threshold, config)
        if why is None and in_drift and selection.drifted(record.event_id, config):
            why = selection.DRIFT
        if why is not None:
            rows.append(_row(info.endpoint, variant, why, record))
    return rows, start + len(complete), (records, unusable)


def _variant(name: str) -> str:
    """The variant folder of `variant/yyyy/mm/dd/hh/file`; older layouts had none."""
    parts = name.split("/")
    return parts[-6] if len(parts) >= 6 else DEFAULT_VARIANT


def _row(endpoint: str, variant: str, why: str, record: CapturedRecord) -> tuple[Any, ...]:
    output = list(record.output or ())
    predicted = max(range(len(output)), key=output.__getitem__)
    captured = (
        datetime.fromtimestamp(record.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if record.time is not None else None
    )
    return (
        endpoint, record.key, record.event_id, record.inference_id, variant, why, predicted, output[predicted],
        state.dumps(output), captured, record.input_content_type or "application/octet-stream", record.input,
        record.source, state.now(),
    )  # fmt: skip


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], own_transaction: bool = True) -> int:
    if not rows:
        return 0
    before = conn.total_changes
    sql = (
        "INSERT OR IGNORE INTO review_items (endpoint, id, event_id, inference_id, variant, reason, predicted,"
        " confidence, probabilities, captured_at, content_type, image, source, added)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    if own_transaction:
        with transaction(conn):
            conn.executemany(sql, rows)
    else:
        conn.executemany(sql, rows)
    return conn.total_changes - before
