"""Labels and skips: every one kept, the last label winning, undo, and the ground truth in step.

Every label and skip is a row in `review_actions`, never overwritten: the history stays, and
`undo` marks an action undone. The item row caches the outcome (status, label, reviewer) for
listing, and `groundtruth` keeps the store in step: exactly one record, the winning label, per
labelled item. Ground truth is written before the transaction that records it (and removed if
that fails); old records are removed after it, so a crash leaves at worst a duplicate, never a gap.
"""

from __future__ import annotations

import getpass
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scones import state
from scones.config import Settings
from scones.review import groundtruth
from scones.review.errors import ReviewError
from scones.review.tables import connect, find_queue, resolve_ids, transaction
from scones.storage import Store


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


def history(settings: Settings, endpoint: str, item_id: str | None = None) -> list[Action]:
    """Every label and skip given (of one item when given), oldest first, undone ones included."""
    sql = "SELECT seq, item_id, action, label, reviewer, at, undone FROM review_actions WHERE endpoint=?"
    args: tuple[Any, ...] = (endpoint,) if item_id is None else (endpoint, item_id)
    with connect(settings) as conn:
        rows = conn.execute(sql + ("" if item_id is None else " AND item_id=?") + " ORDER BY seq", args)
        return [Action(**dict(row)) for row in rows]


def label_many(
    settings: Settings,
    endpoint: str,
    labels: Sequence[tuple[str, int | str]],
    reviewer: str | None = None,
    store: Store | None = None,
) -> int:
    """Label several items at once, all or nothing: every id and class is checked before anything
    is written, and the ground truth of the batch is one object. Returns how many were labelled."""
    info = find_queue(settings, endpoint)
    resolved = [(item_id, info.class_index(value)) for item_id, value in labels]
    if not resolved:
        return 0
    store = store or Store(settings)
    who = reviewer or _user()
    with connect(settings) as conn:
        ids = resolve_ids(conn, endpoint, [i for i, _ in resolved])
        resolved = [(ids[i], index) for i, index in resolved]
        key = groundtruth.write(store, settings.bucket, endpoint, _last_per_id(resolved))
        stale: list[tuple[str, str]] = []
        try:
            with transaction(conn):
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
        except BaseException:
            store.delete(settings.bucket, key)  # not recorded: not ground truth either
            raise
    for old_key, item_id in stale:  # after the commit: a crash leaves a duplicate, never a gap
        groundtruth.remove(store, settings.bucket, old_key, item_id)
    return len(resolved)


def skip(settings: Settings, endpoint: str, item_id: str, reviewer: str | None = None) -> None:
    """Set an item aside unlabelled (a label given earlier still stands)."""
    find_queue(settings, endpoint)
    with connect(settings) as conn:
        item_id = resolve_ids(conn, endpoint, [item_id])[item_id]
        with transaction(conn):
            conn.execute(
                "INSERT INTO review_actions (endpoint, item_id, action, reviewer, at) VALUES (?, ?, 'skip', ?, ?)",
                (endpoint, item_id, reviewer or _user(), state.now()),
            )
            _settle(conn, endpoint, item_id)


def undo(settings: Settings, endpoint: str, item_id: str, store: Store | None = None) -> Action:
    """Undo the item's latest label or skip (the one before it wins again); returns what was undone."""
    find_queue(settings, endpoint)
    store = store or Store(settings)
    with connect(settings) as conn:
        item_id = resolve_ids(conn, endpoint, [item_id])[item_id]
        last = conn.execute(
            "SELECT seq, item_id, action, label, reviewer, at, undone FROM review_actions"
            " WHERE endpoint=? AND item_id=? AND undone IS NULL ORDER BY seq DESC LIMIT 1",
            (endpoint, item_id),
        ).fetchone()
        if last is None:
            raise ReviewError(f"Item {item_id} of {endpoint} has no label or skip to undo")
        # The label that wins once `last` is undone; written to the ground truth again if it left it.
        before = conn.execute(
            "SELECT seq, label, gt_key FROM review_actions WHERE endpoint=? AND item_id=? AND action='label'"
            " AND undone IS NULL AND seq<? ORDER BY seq DESC LIMIT 1",
            (endpoint, item_id, last["seq"]),
        ).fetchone()
        key = None
        if before is not None and before["gt_key"] is None:
            key = groundtruth.write(store, settings.bucket, endpoint, [(item_id, before["label"])])
        try:
            with transaction(conn):
                done = conn.execute(
                    "UPDATE review_actions SET undone=? WHERE seq=? AND undone IS NULL", (state.now(), last["seq"])
                )
                if done.rowcount != 1:
                    raise ReviewError(f"Item {item_id} of {endpoint} changed meanwhile; look again and retry")
                stale = _claim_ground_truth(conn, endpoint, item_id, key, before["seq"] if before else None)
                _settle(conn, endpoint, item_id)
        except BaseException:
            if key is not None:
                store.delete(settings.bucket, key)
            raise
    for old_key, stale_id in stale:
        groundtruth.remove(store, settings.bucket, old_key, stale_id)
    return Action(**{**dict(last), "undone": state.now()})


def _winner(conn: sqlite3.Connection, endpoint: str, item_id: str) -> sqlite3.Row | None:
    """The item's latest label not undone: the one that wins."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT seq, label, reviewer, at, gt_key FROM review_actions WHERE endpoint=? AND item_id=?"
        " AND action='label' AND undone IS NULL ORDER BY seq DESC LIMIT 1",
        (endpoint, item_id),
    ).fetchone()
    return row


def _claim_ground_truth(
    conn: sqlite3.Connection, endpoint: str, item_id: str, key: str | None, written_for: int | None = None
) -> list[tuple[str, str]]:
    """Point the winning label at `key` (a new object holding its record) and forget every other
    record of the item; returns the (key, id) records to remove from the store. `written_for` is
    the action `key` was written for (default: the winner); if another label won meanwhile, `key`
    is stale too."""
    winner = _winner(conn, endpoint, item_id)
    keep = winner["seq"] if winner is not None else -1
    stale = [] if key is None or written_for in (None, keep) else [(key, item_id)]
    if key is not None and not stale:
        conn.execute("UPDATE review_actions SET gt_key=? WHERE seq=?", (key, keep))
    rows = conn.execute(
        "SELECT gt_key FROM review_actions WHERE endpoint=? AND item_id=? AND gt_key IS NOT NULL AND seq<>?",
        (endpoint, item_id, keep),
    ).fetchall()
    conn.execute(
        "UPDATE review_actions SET gt_key=NULL WHERE endpoint=? AND item_id=? AND seq<>?", (endpoint, item_id, keep)
    )
    return stale + [(row[0], item_id) for row in rows if row[0] != key]


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


def _last_per_id(labels: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return list(dict(labels).items())


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
