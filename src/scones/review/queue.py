"""The review queue: captured answers people should label, kept in the state database.

`refresh` reads an endpoint's captured data (every variant, under
`{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/`, and the older layout without the variant)
from where it stopped last time: each file remembers how many bytes were read, so a refresh
reads only what was captured since. `selection` decides what enters. Items are unique per
(endpoint, id), id being the inferenceId when the caller sent one, else the eventId (the id
ground truth is matched on), so rereading never duplicates. The image is kept in the row:
captured data may expire long before a reviewed image is used for training.

Every label and skip is an action in `review_actions`, never overwritten: the last label wins,
the history stays, and `undo` marks an action undone. The item row caches the outcome (status,
label, reviewer) for listing, and `groundtruth` keeps the store in step: exactly one record,
the winning label, per labelled item.
"""

from __future__ import annotations

import getpass
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scones import state
from scones.config import Settings
from scones.endpoint import table
from scones.errors import SconesError
from scones.monitor import runs
from scones.monitor.captured import (
    DEFAULT_VARIANT,
    CapturedRecord,
    capture_prefix,
    default_destination,
    hour_of,
    list_files,
    open_file,
    parse_record,
    wanted,
)
from scones.review import groundtruth, selection
from scones.review.errors import ReviewError
from scones.review.selection import ReviewConfig
from scones.storage import Store

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


@dataclass(frozen=True)
class Reviewed:
    """A labelled item, as the loop stage uses it to stage training data."""

    id: str  # inferenceId when the caller sent one, else eventId
    event_id: str
    inference_id: str | None
    endpoint: str
    variant: str
    label: int  # class index, in the artifact's class order
    predicted: int
    confidence: float
    reviewer: str
    labelled_at: str  # ISO 8601 UTC
    image: bytes  # the request body as captured (base64-decoded)
    content_type: str


@dataclass(frozen=True)
class Item:
    """One queue entry without its image (`image` reads that)."""

    id: str
    event_id: str
    inference_id: str | None
    endpoint: str
    variant: str
    reason: str
    predicted: int
    confidence: float
    probabilities: list[float]
    captured_at: str | None
    content_type: str
    added: str
    status: str
    label: int | None
    reviewer: str | None
    labelled_at: str | None

    def as_dict(self, classes: Sequence[str] | None = None) -> dict[str, Any]:
        body = dict(self.__dict__)
        if classes is not None:
            body["predicted_class"] = _name(classes, self.predicted)
            body["label_class"] = None if self.label is None else _name(classes, self.label)
        return body


@dataclass(frozen=True)
class Action:
    """One label or skip, as given (undone ones included)."""

    seq: int
    item_id: str
    action: str  # label | skip
    label: int | None
    reviewer: str
    at: str
    undone: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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


# -- the database -------------------------------------------------------------------------------
@contextmanager
def _db(settings: Settings) -> Iterator[sqlite3.Connection]:
    with closing(state.connect(settings)) as conn:
        state.ensure_table(conn, "review_items", DDL)
        yield conn


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
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


def queue(settings: Settings, endpoint: str) -> Queue:
    """The endpoint's queue; ReviewError when the endpoint was never deployed nor reviewed here."""
    record = table.find(settings, endpoint)
    if record is not None:
        destination = record.config.get("capture_destination") or default_destination(settings.bucket)
        classes = record.config.get("classes")
        if isinstance(classes, list) and classes:
            return Queue(endpoint, capture_prefix(destination, endpoint, None), [str(c) for c in classes])
    with _db(settings) as conn:
        row = conn.execute("SELECT capture, classes FROM review_queues WHERE endpoint=?", (endpoint,)).fetchone()
    if row is not None:
        return Queue(endpoint, row["capture"], list(state.loads(row["classes"])))
    if record is not None:
        raise ReviewError(f"Endpoint {endpoint} does not say which classes its model predicts; redeploy it")
    raise ReviewError(f"Unknown endpoint {endpoint!r}; give the name of a deployed endpoint ('scones endpoints')")


# -- refreshing ---------------------------------------------------------------------------------
def refresh(settings: Settings, endpoint: str) -> int:
    """Pull new captures into the queue incrementally; returns how many items were added."""
    return update(settings, endpoint).added


def update(
    settings: Settings, endpoint: str, config: ReviewConfig | None = None, store: Store | None = None
) -> Refresh:
    """`refresh`, with the sampling shares given and what was read reported."""
    config = config or ReviewConfig()
    store = store or Store(settings)
    info = queue(settings, endpoint)
    result = Refresh()
    with _db(settings) as conn:
        with _write(conn):
            conn.execute(
                "INSERT INTO review_queues (endpoint, capture, classes, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET capture=excluded.capture, classes=excluded.classes,"
                " updated=excluded.updated",
                (endpoint, info.capture, state.dumps(info.classes), state.now()),
            )
        try:
            files = list_files(store, info.capture)
        except SconesError:  # nothing captured yet
            files = []
        files = [f for f in files if wanted(f.name or info.capture)]
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
            with _write(conn):
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
            with _write(conn):
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
        with _write(conn):
            conn.executemany(sql, rows)
    else:
        conn.executemany(sql, rows)
    return conn.total_changes - before


# -- reading ------------------------------------------------------------------------------------
_ITEM_COLUMNS = (
    "id, event_id, inference_id, endpoint, variant, reason, predicted, confidence, probabilities, captured_at,"
    " content_type, added, status, label, reviewer, labelled_at"
)


def _item(row: sqlite3.Row) -> Item:
    body = dict(row)
    body["probabilities"] = state.loads(body["probabilities"])
    return Item(**body)


def items(
    settings: Settings, endpoint: str, status: str | None = None, after: str | None = None, limit: int = -1
) -> list[Item]:
    """The endpoint's items in queue order (oldest capture read first), of one status when given,
    only those queued after item `after` when given (a page of `limit`, -1 for all)."""
    queue(settings, endpoint)  # an unknown endpoint is an error, not an empty list
    if status is not None and status not in STATUSES:
        raise ReviewError(f"Unknown status {status!r}; give one of {', '.join(STATUSES)}")
    sql = f"SELECT {_ITEM_COLUMNS} FROM review_items WHERE endpoint=?"  # noqa: S608 (fixed columns)
    args: list[Any] = [endpoint]
    if status is not None:
        sql += " AND status=?"
        args.append(status)
    if after is not None:
        sql += " AND seq > COALESCE((SELECT seq FROM review_items WHERE endpoint=? AND id=?), -1)"
        args += [endpoint, after]
    with _db(settings) as conn:
        return [_item(row) for row in conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit))]


def item(settings: Settings, endpoint: str, item_id: str) -> Item:
    with _db(settings) as conn:
        row = conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM review_items WHERE endpoint=? AND id=?",  # noqa: S608 (fixed columns)
            (endpoint, item_id),
        ).fetchone()
    if row is None:
        queue(settings, endpoint)
        raise _unknown(endpoint, item_id)
    return _item(row)


def image(settings: Settings, endpoint: str, item_id: str) -> tuple[bytes, str]:
    """An item's image bytes and content type."""
    with _db(settings) as conn:
        row = conn.execute(
            "SELECT image, content_type FROM review_items WHERE endpoint=? AND id=?", (endpoint, item_id)
        ).fetchone()
    if row is None:
        raise _unknown(endpoint, item_id)
    return bytes(row["image"]), str(row["content_type"])


def history(settings: Settings, endpoint: str, item_id: str | None = None) -> list[Action]:
    """Every label and skip given (of one item when given), oldest first, undone ones included."""
    sql = "SELECT seq, item_id, action, label, reviewer, at, undone FROM review_actions WHERE endpoint=?"
    args: tuple[Any, ...] = (endpoint,) if item_id is None else (endpoint, item_id)
    with _db(settings) as conn:
        rows = conn.execute(sql + ("" if item_id is None else " AND item_id=?") + " ORDER BY seq", args)
        return [Action(**dict(row)) for row in rows]


def reviewed(settings: Settings, endpoint: str) -> list[Reviewed]:
    """The last label of every labelled item (skipped excluded), oldest label first."""
    with _db(settings) as conn:
        rows = conn.execute(
            "SELECT id, event_id, inference_id, endpoint, variant, label, predicted, confidence, reviewer,"
            " labelled_at, image, content_type FROM review_items WHERE endpoint=? AND status='labelled'"
            " ORDER BY labelled_at, seq",
            (endpoint,),
        ).fetchall()
    return [Reviewed(**{**dict(row), "image": bytes(row["image"])}) for row in rows]


def counts(settings: Settings, endpoint: str) -> dict[str, int]:
    """How many items are pending, labelled and skipped."""
    with _db(settings) as conn:
        found = dict(
            conn.execute("SELECT status, COUNT(*) FROM review_items WHERE endpoint=? GROUP BY status", (endpoint,))
        )
    return {s: int(found.get(s, 0)) for s in STATUSES}


def queues(settings: Settings) -> dict[str, dict[str, int]]:
    """Every endpoint with a queue here, and its counts by status."""
    with _db(settings) as conn:
        found: dict[str, dict[str, int]] = {
            r[0]: dict.fromkeys(STATUSES, 0) for r in conn.execute("SELECT endpoint FROM review_queues")
        }
        for endpoint, status, count in conn.execute(
            "SELECT endpoint, status, COUNT(*) FROM review_items GROUP BY endpoint, status"
        ):
            found.setdefault(endpoint, dict.fromkeys(STATUSES, 0))[status] = int(count)
    return dict(sorted(found.items()))


# -- labelling ----------------------------------------------------------------------------------
def label(settings: Settings, endpoint: str, item_id: str, label: int | str, reviewer: str | None = None) -> None:
    """Label one item (class index or name); the ground truth is written too."""
    label_many(settings, endpoint, [(item_id, label)], reviewer)


def label_many(
    settings: Settings,
    endpoint: str,
    labels: Sequence[tuple[str, int | str]],
    reviewer: str | None = None,
    store: Store | None = None,
) -> int:
    """Label several items at once, all or nothing: every id and class is checked before anything
    is written, and the ground truth of the batch is one object. Returns how many were labelled."""
    info = queue(settings, endpoint)
    resolved = [(item_id, info.class_index(value)) for item_id, value in labels]
    if not resolved:
        return 0
    store = store or Store(settings)
    who = reviewer or _user()
    with _db(settings) as conn:
        _check_ids(conn, endpoint, [i for i, _ in resolved])
        key = groundtruth.write(store, settings.bucket, endpoint, _last_per_id(resolved))
        stale: list[tuple[str, str]] = []
        with _write(conn):
            at = state.now()
            for item_id, index in resolved:
                conn.execute(
                    "INSERT INTO review_actions (endpoint, item_id, action, label, reviewer, at)"
                    " VALUES (?, ?, 'label', ?, ?, ?)",
                    (endpoint, item_id, index, who, at),
                )
            for item_id in dict(resolved):
                stale += _claim_ground_truth(conn, endpoint, item_id, key)
                _settle(conn, endpoint, item_id)
    for old_key, item_id in stale:  # after the commit: a crash leaves a duplicate, never a gap
        groundtruth.remove(store, settings.bucket, old_key, item_id)
    return len(resolved)


def skip(settings: Settings, endpoint: str, item_id: str, reviewer: str | None = None) -> None:
    """Set an item aside unlabelled (a label given earlier still stands)."""
    queue(settings, endpoint)
    with _db(settings) as conn:
        _check_ids(conn, endpoint, [item_id])
        with _write(conn):
            conn.execute(
                "INSERT INTO review_actions (endpoint, item_id, action, reviewer, at) VALUES (?, ?, 'skip', ?, ?)",
                (endpoint, item_id, reviewer or _user(), state.now()),
            )
            _settle(conn, endpoint, item_id)


def undo(settings: Settings, endpoint: str, item_id: str, store: Store | None = None) -> Action:
    """Undo the item's latest label or skip (the one before it wins again); returns what was undone."""
    queue(settings, endpoint)
    store = store or Store(settings)
    with _db(settings) as conn:
        _check_ids(conn, endpoint, [item_id])
        last = conn.execute(
            "SELECT seq, item_id, action, label, reviewer, at, undone FROM review_actions"
            " WHERE endpoint=? AND item_id=? AND undone IS NULL ORDER BY seq DESC LIMIT 1",
            (endpoint, item_id),
        ).fetchone()
        if last is None:
            raise ReviewError(f"Item {item_id} of {endpoint} has no label or skip to undo")
        with _write(conn):
            conn.execute("UPDATE review_actions SET undone=? WHERE seq=?", (state.now(), last["seq"]))
            winner = _winner(conn, endpoint, item_id)
            needs_write = winner is not None and winner["gt_key"] is None
        key = groundtruth.write(store, settings.bucket, endpoint, [(item_id, winner["label"])]) if needs_write else None
        with _write(conn):
            stale = _claim_ground_truth(conn, endpoint, item_id, key)
            _settle(conn, endpoint, item_id)
    for old_key, stale_id in stale:
        groundtruth.remove(store, settings.bucket, old_key, stale_id)
    return Action(**{**dict(last), "undone": state.now()})


def _winner(conn: sqlite3.Connection, endpoint: str, item_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT seq, label, reviewer, at, gt_key FROM review_actions WHERE endpoint=? AND item_id=?"
        " AND action='label' AND undone IS NULL ORDER BY seq DESC LIMIT 1",
        (endpoint, item_id),
    ).fetchone()


def _claim_ground_truth(
    conn: sqlite3.Connection, endpoint: str, item_id: str, key: str | None
) -> list[tuple[str, str]]:
    """Point the winning label at `key` (when given) and forget every other record of the item;
    returns the (key, id) records to remove from the store."""
    winner = _winner(conn, endpoint, item_id)
    if winner is not None and key is not None:
        conn.execute("UPDATE review_actions SET gt_key=? WHERE seq=?", (key, winner["seq"]))
    keep = winner["seq"] if winner is not None else -1
    stale = conn.execute(
        "SELECT gt_key FROM review_actions WHERE endpoint=? AND item_id=? AND gt_key IS NOT NULL AND seq<>?",
        (endpoint, item_id, keep),
    ).fetchall()
    conn.execute(
        "UPDATE review_actions SET gt_key=NULL WHERE endpoint=? AND item_id=? AND seq<>?", (endpoint, item_id, keep)
    )
    return [(row[0], item_id) for row in stale if row[0] != key]


def _settle(conn: sqlite3.Connection, endpoint: str, item_id: str) -> None:
    """Cache the item's outcome in its row: its winning label, else skipped, else pending."""
    winner = _winner(conn, endpoint, item_id)
    if winner is not None:
        values: tuple[Any, ...] = ("labelled", winner["label"], winner["reviewer"], winner["at"])
    else:
        skipped = conn.execute(
            "SELECT reviewer, at FROM review_actions WHERE endpoint=? AND item_id=? AND action='skip'"
            " AND undone IS NULL ORDER BY seq DESC LIMIT 1",
            (endpoint, item_id),
        ).fetchone()
        values = ("skipped", None, skipped["reviewer"], skipped["at"]) if skipped else ("pending", None, None, None)
    conn.execute(
        "UPDATE review_items SET status=?, label=?, reviewer=?, labelled_at=? WHERE endpoint=? AND id=?",
        (*values, endpoint, item_id),
    )


def _check_ids(conn: sqlite3.Connection, endpoint: str, ids: Sequence[str]) -> None:
    known = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id FROM review_items WHERE endpoint=? AND id IN ({marks})"  # noqa: S608 (placeholders)
        known.update(r[0] for r in conn.execute(sql, (endpoint, *chunk)))
    missing = [i for i in unique if i not in known]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _unknown(endpoint, missing[0], more)


def _unknown(endpoint: str, item_id: str, more: str = "") -> ReviewError:
    return ReviewError(
        f"Unknown item id {item_id!r}{more} in the review queue of {endpoint}; see 'scones review list {endpoint}'"
    )


def _last_per_id(labels: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return list(dict(labels).items())


def _name(classes: Sequence[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else str(index)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
