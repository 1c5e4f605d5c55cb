"""The review queue: captured answers people should label, kept in the state database.

The API later stages use: `refresh` (new captures in, `intake`), `label` (`labelling`, which
writes the ground truth too) and `reviewed` (the last label of every labelled item, image
included); and the reads the CLI and the console show. Items are keyed by the inferenceId when
the caller sent one, else the eventId: the id Model Monitor merges ground truth on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scones import state
from scones.config import Settings
from scones.review.errors import ReviewError
from scones.review.intake import Refresh, update
from scones.review.labelling import Action, history, label_many, skip, undo
from scones.review.tables import STATUSES, Queue, connect, find_queue, unknown_item
from scones.storage import Store

__all__ = [
    "STATUSES", "Action", "Item", "Queue", "Refresh", "Reviewed", "counts", "history", "image", "item", "items",
    "label", "label_many", "queue", "queues", "refresh", "refresh_all", "reviewed", "skip", "undo", "update",
]  # fmt: skip

queue = find_queue  # the endpoint's queue: its capture location and classes


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


# -- refreshing ---------------------------------------------------------------------------------
def refresh(settings: Settings, endpoint: str) -> int:
    """Pull new captures into the queue incrementally; returns how many items were added.

    The shares of confident and drifted answers sampled come from SCONES_SAMPLE_CONFIDENT and
    SCONES_SAMPLE_DRIFT, else 0.02 and 0.1 (`update` takes them as arguments)."""
    return update(settings, endpoint).added


def refresh_all(settings: Settings, store: Store | None = None) -> int:
    """Refresh every queue that exists here (what the console's background thread does)."""
    store = store or Store(settings)
    return sum(update(settings, endpoint, store=store).added for endpoint in queues(settings))


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
    find_queue(settings, endpoint)  # an unknown endpoint is an error, not an empty list
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
    with connect(settings) as conn:
        return [_item(row) for row in conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit))]


def item(settings: Settings, endpoint: str, item_id: str) -> Item:
    """One item, by its id or (for an item keyed by its inferenceId) its eventId."""
    with connect(settings) as conn:
        row = conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM review_items WHERE endpoint=? AND (id=? OR event_id=?)"  # noqa: S608 (fixed columns)
            " ORDER BY id=? DESC LIMIT 1",  # an id, else the eventId of an item keyed by its inferenceId
            (endpoint, item_id, item_id, item_id),
        ).fetchone()
    if row is None:
        find_queue(settings, endpoint)
        raise unknown_item(endpoint, item_id)
    return _item(row)


def image(settings: Settings, endpoint: str, item_id: str) -> tuple[bytes, str]:
    """An item's image bytes and content type."""
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT image, content_type FROM review_items WHERE endpoint=? AND (id=? OR event_id=?)"
            " ORDER BY id=? DESC LIMIT 1",
            (endpoint, item_id, item_id, item_id),
        ).fetchone()
    if row is None:
        raise unknown_item(endpoint, item_id)
    return bytes(row["image"]), str(row["content_type"])


def reviewed(settings: Settings, endpoint: str) -> list[Reviewed]:
    """The last label of every labelled item (skipped excluded), oldest label first."""
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT id, event_id, inference_id, endpoint, variant, label, predicted, confidence, reviewer,"
            " labelled_at, image, content_type FROM review_items WHERE endpoint=? AND status='labelled'"
            " ORDER BY labelled_at, seq",
            (endpoint,),
        ).fetchall()
    return [Reviewed(**{**dict(row), "image": bytes(row["image"])}) for row in rows]


def counts(settings: Settings, endpoint: str) -> dict[str, int]:
    """How many items are pending, labelled and skipped."""
    with connect(settings) as conn:
        found = dict(
            conn.execute("SELECT status, COUNT(*) FROM review_items WHERE endpoint=? GROUP BY status", (endpoint,))
        )
    return {s: int(found.get(s, 0)) for s in STATUSES}


def queues(settings: Settings) -> dict[str, dict[str, int]]:
    """Every endpoint with a queue here, and its counts by status."""
    with connect(settings) as conn:
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


def _name(classes: Sequence[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else str(index)
