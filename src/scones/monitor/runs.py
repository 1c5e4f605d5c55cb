"""Monitoring executions: each run recorded like SageMaker's, and a foreground scheduler.

Table `monitoring_executions` in the state database: one row per run with its status
(`InProgress`, then `Completed`, `CompletedWithViolations` or `Failed`, SageMaker's
MonitoringExecutionStatus values), the window, counts and where its results are.
`schedule` runs a monitoring function every interval until stopped (cron works too:
docs/monitoring.md).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import MonitorError, SconesError

logger = logging.getLogger(__name__)

DEFAULT_LAG = 60.0  # seconds between a window's end and its analysis (capture writers buffer)
STATUSES = ("InProgress", "Completed", "CompletedWithViolations", "Failed")
DDL = """
CREATE TABLE IF NOT EXISTS monitoring_executions (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,            -- the endpoint (or model) monitored
    status TEXT NOT NULL,          -- InProgress | Completed | CompletedWithViolations | Failed
    capture TEXT,                  -- where the captured data was read
    baseline TEXT,
    window_since TEXT,
    window_until TEXT,
    records INTEGER,
    violations INTEGER,
    output TEXT,                   -- the s3:// prefix holding the run's files
    failure_reason TEXT,
    started TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX IF NOT EXISTS monitoring_executions_by_name ON monitoring_executions (name, started);
"""


@dataclass(frozen=True)
class Execution:
    run_id: str
    name: str
    status: str
    capture: str | None
    baseline: str | None
    window_since: str | None
    window_until: str | None
    records: int | None
    violations: int | None
    output: str | None
    failure_reason: str | None
    started: str
    finished: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _conn(settings: Settings) -> Any:
    conn = state.connect(settings)
    state.ensure_table(conn, "monitoring_executions", DDL)
    return conn


def start(
    settings: Settings, run_id: str, name: str, capture: str, baseline: str, since: str | None, until: str | None
) -> None:
    with closing(_conn(settings)) as conn:
        conn.execute(
            "INSERT INTO monitoring_executions (run_id, name, status, capture, baseline, window_since, window_until,"
            " started) VALUES (?, ?, 'InProgress', ?, ?, ?, ?, ?)",
            (run_id, name, capture, baseline, since, until, state.now()),
        )


def finish(
    settings: Settings,
    run_id: str,
    status: str,
    records: int | None = None,
    violations: int | None = None,
    output: str | None = None,
    failure_reason: str | None = None,
) -> None:
    if status not in STATUSES[1:]:
        raise MonitorError(f"Unknown execution status {status!r}; expected one of {', '.join(STATUSES[1:])}")
    with closing(_conn(settings)) as conn:
        conn.execute(
            "UPDATE monitoring_executions SET status=?, records=?, violations=?, output=?, failure_reason=?, finished=?"
            " WHERE run_id=?",
            (status, records, violations, output, failure_reason, state.now(), run_id),
        )


def executions(settings: Settings, name: str | None = None, limit: int = 50) -> list[Execution]:
    """The most recent executions first (of one endpoint when `name` is given)."""
    with closing(_conn(settings)) as conn:
        if name:
            rows = conn.execute(
                "SELECT * FROM monitoring_executions WHERE name=? ORDER BY started DESC LIMIT ?", (name, limit)
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM monitoring_executions ORDER BY started DESC LIMIT ?", (limit,)
            ).fetchall()
    return [Execution(**dict(row)) for row in rows]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """'90s', '15m', '1h', '1d' (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise MonitorError(f"Interval {text!r} is not a duration; write e.g. 30s, 15m, 1h or 1d")
    return float(match.group(1)) * _UNITS.get(match.group(2) or "s", 1)


def schedule(
    every: float,
    run_once: Callable[[float, float], Any],
    max_runs: int | None = None,
    lag: float = DEFAULT_LAG,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Call `run_once(since, until)` for each interval of `every` seconds, in the foreground.

    Windows are contiguous, so no record is missed or counted twice, and start on a whole
    second (inferenceTime has whole seconds). Each window is analysed `lag` seconds after it
    ends, because an endpoint's capture writer holds records for a few seconds before writing
    them. A failing run is logged (and recorded by the run itself) and the schedule goes on.
    Returns the number of runs made.
    """
    runs = 0
    until = float(math.floor(clock() - lag))
    since = until - every
    while max_runs is None or runs < max_runs:
        try:
            run_once(since, until)
        except SconesError as exc:  # recorded as Failed by the run itself; the schedule goes on
            logger.warning("monitoring run for %s..%s failed: %s", since, until, exc)
        runs += 1
        if max_runs is not None and runs >= max_runs:
            break
        since, until = until, until + every
        delay = until + lag - clock()
        if delay > 0:
            sleep(delay)
    return runs


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC when no zone is given) or a duration ago ('2h' = two hours ago)."""
    now = now or datetime.now(UTC)
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[smhd]\s*", text):
        # whole seconds, as inferenceTime: a record's second is in exactly one of two adjacent windows
        return (now - timedelta(seconds=parse_interval(text))).replace(microsecond=0)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MonitorError(
            f"Time {text!r} is neither ISO-8601 (2026-03-12T14:00:00Z) nor a duration ago (2h)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
