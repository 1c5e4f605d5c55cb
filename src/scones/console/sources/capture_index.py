"""An index of captured records in the state database, built incrementally.

Captured data (reference section 4) is JSONL under
`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`. Scanning 100k records per page
view is far too slow, so the console keeps one small row per record (where it is, when,
the prediction and its confidence) and reads only the bytes added since the last look:
each file remembers how far it was indexed. Images are read back by offset on demand.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from scones import state
from scones.config import Settings
from scones.console.db import Database
from scones.endpoint import table
from scones.errors import SconesError
from scones.keys import parse_s3_uri
from scones.storage import Store

logger = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS console_capture_files (
    bucket TEXT NOT NULL, key TEXT NOT NULL, endpoint TEXT NOT NULL,
    indexed_bytes INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0,
    bad_lines INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS console_captured (
    id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, endpoint TEXT NOT NULL, time TEXT NOT NULL, event_id TEXT,
    inference_id TEXT, content_type TEXT, predicted INTEGER, confidence REAL, probabilities TEXT,
    UNIQUE (bucket, key, offset));
CREATE INDEX IF NOT EXISTS console_captured_time ON console_captured (time);
CREATE INDEX IF NOT EXISTS console_captured_endpoint_time ON console_captured (endpoint, time);
CREATE INDEX IF NOT EXISTS console_captured_class_time ON console_captured (predicted, time);
CREATE INDEX IF NOT EXISTS console_captured_confidence ON console_captured (confidence, time);
"""
LIST_EVERY_S = 1.0  # listing the store is the expensive part on S3; do it at most this often
CHUNK_LINES = 500


@dataclass(frozen=True)
class Parsed:
    time: str
    event_id: str | None
    inference_id: str | None
    content_type: str | None
    probabilities: list[float] | None


def parse_record(line: bytes) -> Parsed:
    """One captured line -> what the index keeps; ValueError when it is not a capture record."""
    record = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
        raise ValueError("not a capture record")
    meta = record.get("eventMetadata") or {}
    data = record["captureData"]
    given = data.get("endpointInput") or {}
    return Parsed(
        time=str(meta.get("inferenceTime") or ""),
        event_id=meta.get("eventId"),
        inference_id=meta.get("inferenceId"),
        content_type=given.get("observedContentType"),
        probabilities=_probabilities(data.get("endpointOutput") or {}),
    )


def _probabilities(output: dict[str, Any]) -> list[float] | None:
    text = output.get("data")
    if not isinstance(text, str):
        return None
    try:
        if str(output.get("encoding", "JSON")).upper() == "BASE64":
            text = base64.b64decode(text).decode()
        if str(output.get("encoding", "")).upper() == "CSV":
            return [float(x) for x in text.split(",")]
        value = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if isinstance(value, dict):  # application/jsonlines: {"prediction": [...]}
        value = value.get("prediction")
    if isinstance(value, list) and value and all(isinstance(x, int | float) for x in value):
        return [float(x) for x in value]
    return None


def input_image(line: bytes) -> tuple[bytes, str]:
    """The request body of one captured line and its content type."""
    record = json.loads(line)
    given = record["captureData"]["endpointInput"]
    data = given.get("data", "")
    body = base64.b64decode(data) if str(given.get("encoding", "")).upper() == "BASE64" else str(data).encode()
    return body, str(given.get("observedContentType") or "application/octet-stream")


class CaptureIndex:
    """Keeps `console_captured` up to date with the capture destinations in the store."""

    def __init__(self, settings: Settings, store: Store, list_every_s: float = LIST_EVERY_S) -> None:
        self.settings = settings
        self.list_every_s = list_every_s
        self.store = store
        self.db = Database(settings)
        self._lock = threading.Lock()
        self._listed_at = -float("inf")  # list on the first refresh
        self._pending: list[tuple[str, str, int]] = []  # (bucket, key, size) with unread bytes
        self.bad_lines = 0

    def conn(self) -> Any:
        conn = self.db.conn()
        state.ensure_table(conn, "console_captured", DDL)
        return conn

    # -- destinations ------------------------------------------------------------------------
    def destinations(self) -> list[tuple[str, str]]:
        """The default destination plus any an endpoint was deployed with (bucket, prefix)."""
        found = {(self.settings.bucket, "data_capture")}
        for config in table.capture_configs(self.settings):
            found.update(_destinations_in(config))
        return sorted(found)

    # -- refreshing ---------------------------------------------------------------------------
    def refresh(self, budget_s: float | None = None, wait: bool = False) -> int:
        """Index new records, stopping after `budget_s` seconds; returns records added.

        Without `wait`, gives up at once when another thread is indexing (pages never queue).
        """
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            deadline = None if budget_s is None else time.monotonic() + budget_s
            if time.monotonic() - self._listed_at >= self.list_every_s:
                self._pending = self._list_new()
                self._listed_at = time.monotonic()
            added = 0
            while self._pending:
                bucket, key, size = self._pending[0]
                count, finished = self._index_file(bucket, key, size, deadline)
                added += count
                if not finished:
                    break
                self._pending.pop(0)
            return added
        finally:
            self._lock.release()

    def _list_new(self) -> list[tuple[str, str, int]]:
        conn = self.conn()
        known = {(b, k): n for b, k, n in conn.execute("SELECT bucket, key, indexed_bytes FROM console_capture_files")}
        pending = []
        for bucket, prefix in self.destinations():
            try:
                objects = list(self.store.list(bucket, prefix))
            except SconesError as exc:
                logger.warning("console: cannot list captured data at s3://%s/%s: %s", bucket, prefix, exc)
                continue
            for obj in objects:
                if obj.key.endswith(".jsonl") and obj.size > known.get((bucket, obj.key), 0):
                    pending.append((bucket, obj.key, obj.size))
        return sorted(pending, key=lambda p: p[1])  # key order is time order within an endpoint

    def _index_file(self, bucket: str, key: str, size: int, deadline: float | None) -> tuple[int, bool]:
        conn = self.conn()
        endpoint = _endpoint_of(key, self.destinations())
        row = conn.execute(
            "SELECT indexed_bytes FROM console_capture_files WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        start = int(row[0]) if row else 0
        with self.store.open(bucket, key, "rb") as handle:
            handle.seek(start)
            data = handle.read(max(0, size - start))
        position, added, bad, finished = start, 0, 0, True
        rows: list[tuple[Any, ...]] = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines[:-1]):  # the last piece has no newline yet: read it later
            if deadline is not None and number % CHUNK_LINES == 0 and number and time.monotonic() > deadline:
                finished = False
                break
            length = len(line) + 1
            if line.strip():
                try:
                    rows.append(_row(bucket, key, position, length, endpoint, parse_record(line)))
                except (ValueError, KeyError, TypeError):
                    bad += 1
            position += length
        if finished and size > start + len(data):
            finished = False
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO console_captured (bucket, key, offset, length, endpoint, time, event_id,"
                " inference_id, content_type, predicted, confidence, probabilities)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            added = len(rows)
            conn.execute(
                "INSERT INTO console_capture_files (bucket, key, endpoint, indexed_bytes, records, bad_lines)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT (bucket, key) DO UPDATE SET"
                " indexed_bytes=excluded.indexed_bytes, records=records+excluded.records,"
                " bad_lines=bad_lines+excluded.bad_lines",
                (bucket, key, endpoint, position, added, bad),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.bad_lines += bad
        return added, finished and position >= size - len(lines[-1])

    def pending_files(self) -> int:
        """Files with records not indexed yet (as of the last listing)."""
        return len(self._pending)


def _row(bucket: str, key: str, offset: int, length: int, endpoint: str, parsed: Parsed) -> tuple[Any, ...]:
    probs = parsed.probabilities
    predicted = max(range(len(probs)), key=probs.__getitem__) if probs else None
    confidence = max(probs) if probs else None
    return (
        bucket, key, offset, length, endpoint, parsed.time, parsed.event_id, parsed.inference_id,
        parsed.content_type, predicted, confidence, state.dumps(probs) if probs else None,
    )  # fmt: skip


def _endpoint_of(key: str, destinations: list[tuple[str, str]]) -> str:
    """`<prefix>/<endpoint>/<variant>/...` -> endpoint; files placed elsewhere -> their folder."""
    for _, prefix in destinations:
        if prefix and key.startswith(prefix.rstrip("/") + "/"):
            rest = key[len(prefix.rstrip("/")) + 1 :].split("/")
            return rest[0] if len(rest) > 1 else "(unknown)"
    parts = key.split("/")
    return parts[-2] if len(parts) > 1 else "(unknown)"


def _destinations_in(config: Any) -> set[tuple[str, str]]:
    """Every `s3://` URI under a key naming a destination, anywhere in an endpoint's config."""
    found: set[tuple[str, str]] = set()
    if isinstance(config, dict):
        for name, value in config.items():
            if isinstance(value, str) and value.startswith("s3://") and "destination" in name.lower():
                try:
                    found.add(parse_s3_uri(value))
                except SconesError:
                    continue
            else:
                found |= _destinations_in(value)
    elif isinstance(config, list):
        for value in config:
            found |= _destinations_in(value)
    return found
