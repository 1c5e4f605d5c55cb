"""The review stage's tables and what every part of it shares: connections, an endpoint's queue
(where its captures are, its classes) and the checks of item ids.

    review_queues   one row per endpoint reviewed here: its capture location and classes, kept so a
                    queue stays workable after its endpoint is deleted
    review_files    per capture file, how many bytes were read (whole lines only)
    review_drift_runs   monitoring executions with violations whose window was sampled
    review_items    the queue: one row per (endpoint, id), image included; status cached from actions
    review_actions  every label and skip as given, never overwritten (undone ones marked)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass

from scones import state
from scones.config import Settings
from scones.endpoint import table
from scones.monitor.captured import capture_prefix, default_destination
from scones.review.errors import ReviewError

DDL = """
CREATE TABLE IF NOT EXISTS review_queues (
    endpoint TEXT PRIMARY KEY,
    capture TEXT NOT NULL,         -- the location read: {destination}/{endpoint}
    classes TEXT NOT NULL,         -- JSON list, the model's class order
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_files (
    endpoint TEXT NOT NULL,
    location TEXT NOT NULL,
    name TEXT NOT NULL,            -- relative to location
    offset INTEGER NOT NULL,       -- bytes read so far (whole lines only)
    PRIMARY KEY (endpoint, location, name)
);
CREATE TABLE IF NOT EXISTS review_drift_runs (
    endpoint TEXT NOT NULL,
    run_id TEXT NOT NULL,          -- a monitoring execution with violations, already sampled
    PRIMARY KEY (endpoint, run_id)
);
CREATE TABLE IF NOT EXISTS review_items (
    seq INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    id TEXT NOT NULL,              -- inferenceId when sent, else eventId
    event_id TEXT NOT NULL,
    inference_id TEXT,
    variant TEXT NOT NULL,
    reason TEXT NOT NULL,          -- low-confidence | sampled | drift
    predicted INTEGER NOT NULL,
    confidence REAL NOT NULL,
    probabilities TEXT NOT NULL,   -- JSON list
    captured_at TEXT,              -- the capture's inferenceTime
    content_type TEXT NOT NULL,
    image BLOB NOT NULL,
    source TEXT NOT NULL,          -- capture file:line
    added TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | labelled | skipped
    label INTEGER,
    reviewer TEXT,
    labelled_at TEXT,
    UNIQUE (endpoint, id)
);
CREATE INDEX IF NOT EXISTS review_items_by_status ON review_items (endpoint, status, seq);
CREATE INDEX IF NOT EXISTS review_items_by_event ON review_items (endpoint, event_id);
CREATE TABLE IF NOT EXISTS review_actions (
    seq INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    item_id TEXT NOT NULL,
    action TEXT NOT NULL,          -- label | skip
    label INTEGER,
    reviewer TEXT NOT NULL,
    at TEXT NOT NULL,
    undone TEXT,                   -- when it was undone
    gt_key TEXT                    -- the ground-truth object holding this label now, if any
);
CREATE INDEX IF NOT EXISTS review_actions_by_item ON review_actions (endpoint, item_id, seq);
"""
STATUSES = ("pending", "labelled", "skipped")


@contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """The state database with the review tables (closed on exit)."""
    with closing(state.connect(settings)) as conn:
        state.ensure_table(conn, "review_items", DDL)
        yield conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (BEGIN IMMEDIATE), rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class Queue:
    """An endpoint's queue: where its captures are and the classes labels refer to."""

    endpoint: str
    capture: str
    classes: list[str]

    def class_index(self, value: int | str) -> int:
        """A class index or name -> the index; ReviewError listing the classes otherwise."""
        if isinstance(value, int) and not isinstance(value, bool):
            index = value
        else:
            text = str(value).strip()
            lowered = [c.lower() for c in self.classes]
            if text.lower() in lowered:
                return lowered.index(text.lower())
            try:
                index = int(text)
            except ValueError:
                index = -1
        if 0 <= index < len(self.classes):
            return index
        choices = ", ".join(f"{i}={c}" for i, c in enumerate(self.classes))
        raise ReviewError(f"Unknown class {value!r} for {self.endpoint}; give one of {choices}")


def find_queue(settings: Settings, endpoint: str) -> Queue:
    """The endpoint's queue; ReviewError when the endpoint was never deployed nor reviewed here."""
    record = table.find(settings, endpoint)
    if record is not None:
        destination = record.config.get("capture_destination") or default_destination(settings.bucket)
        classes = record.config.get("classes")
        if isinstance(classes, list) and classes:
            return Queue(endpoint, capture_prefix(destination, endpoint, None), [str(c) for c in classes])
    with connect(settings) as conn:
        row = conn.execute("SELECT capture, classes FROM review_queues WHERE endpoint=?", (endpoint,)).fetchone()
    if row is not None:
        return Queue(endpoint, row["capture"], list(state.loads(row["classes"])))
    if record is not None:
        raise ReviewError(f"Endpoint {endpoint} does not say which classes its model predicts; redeploy it")
    raise ReviewError(f"Unknown endpoint {endpoint!r}; give the name of a deployed endpoint ('scones endpoints')")


def resolve_ids(conn: sqlite3.Connection, endpoint: str, ids: Sequence[str]) -> dict[str, str]:
    """Each given id -> its item's id: the item id itself, or the eventId of an item keyed by its
    inferenceId (ground truth written elsewhere may use either). ReviewError naming the first id
    not in the endpoint's queue (and how many more)."""
    found: dict[str, str] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 400):
        chunk = unique[start : start + 400]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id, event_id FROM review_items WHERE endpoint=? AND (id IN ({marks}) OR event_id IN ({marks}))"  # noqa: S608 (placeholders)
        for item_id, event_id in conn.execute(sql, (endpoint, *chunk, *chunk)):
            found.setdefault(event_id, item_id)
            found[item_id] = item_id  # an id wins over another item's eventId
    missing = [i for i in unique if i not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise unknown_item(endpoint, missing[0], more)
    return {i: found[i] for i in unique}


def unknown_item(endpoint: str, item_id: str, more: str = "") -> ReviewError:
    return ReviewError(
        f"Unknown item id {item_id!r}{more} in the review queue of {endpoint}; see 'scones review list {endpoint}'"
    )
