"""Queries over the captured-data index: filtered, newest first, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scones import state
from scones.console.sources.capture_index import CaptureIndex, input_image


@dataclass(frozen=True)
class Filters:
    endpoint: str = ""
    predicted: int | None = None
    low_confidence: bool = False
    since: str = ""  # ISO prefixes compare correctly as text: '2026-01-02T10' < '2026-01-02T10:15:00Z'
    until: str = ""


def _where(filters: Filters, threshold: float) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.endpoint:
        clauses.append("endpoint = ?")
        params.append(filters.endpoint)
    if filters.predicted is not None:
        clauses.append("predicted = ?")
        params.append(filters.predicted)
    if filters.low_confidence:
        clauses.append("confidence < ?")
        params.append(threshold)
    if filters.since:
        clauses.append("time >= ?")
        params.append(filters.since)
    if filters.until:
        clauses.append("time < ?")
        params.append(filters.until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count(index: CaptureIndex, filters: Filters, threshold: float, cap: int | None = None) -> int:
    """Matching records; with `cap`, stops counting past it (returns cap + 1) so that a broad
    filter over a big index costs no more than a page of a narrow one."""
    where, params = _where(filters, threshold)
    inner = f"SELECT 1 FROM console_captured{where}" + (" LIMIT ?" if cap is not None else "")  # noqa: S608
    args = [*params, cap + 1] if cap is not None else params
    return int(index.conn().execute(f"SELECT count(*) FROM ({inner})", args).fetchone()[0])  # noqa: S608


def page(index: CaptureIndex, filters: Filters, threshold: float, limit: int, offset: int) -> list[dict[str, Any]]:
    where, params = _where(filters, threshold)
    columns = "id, endpoint, time, event_id, inference_id, predicted, confidence, probabilities"
    sql = f"SELECT {columns} FROM console_captured{where} ORDER BY time DESC, id DESC LIMIT ? OFFSET ?"  # noqa: S608
    rows = [dict(r) for r in index.conn().execute(sql, [*params, limit, offset])]
    for row in rows:
        row["probabilities"] = state.loads(row["probabilities"])
    return rows


def endpoints(index: CaptureIndex) -> list[str]:
    return [r[0] for r in index.conn().execute("SELECT DISTINCT endpoint FROM console_capture_files ORDER BY 1")]


def summary(index: CaptureIndex, threshold: float) -> dict[str, Any]:
    conn = index.conn()
    total = conn.execute("SELECT count(*) FROM console_captured").fetchone()[0]
    low = conn.execute("SELECT count(*) FROM console_captured WHERE confidence < ?", (threshold,)).fetchone()[0]
    latest = conn.execute("SELECT max(time) FROM console_captured").fetchone()[0]
    return {"total": int(total), "low_confidence": int(low), "latest": latest}


def record(index: CaptureIndex, record_id: int) -> dict[str, Any] | None:
    row = index.conn().execute("SELECT * FROM console_captured WHERE id = ?", (record_id,)).fetchone()
    if row is None:
        return None
    found = dict(row)
    found["probabilities"] = state.loads(found["probabilities"])
    return found


def image(index: CaptureIndex, record_id: int) -> tuple[bytes, str] | None:
    """The captured request body of record `record_id`, read back from its file by offset."""
    row = (
        index.conn()
        .execute("SELECT bucket, key, offset, length FROM console_captured WHERE id = ?", (record_id,))
        .fetchone()
    )
    if row is None:
        return None
    bucket, key, offset, length = row
    with index.store.open(bucket, key, "rb") as handle:
        handle.seek(offset)
        line = handle.read(length)
    return input_image(line)
