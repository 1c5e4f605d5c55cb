from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scones.config import Settings
from scones.errors import MonitorError
from scones.monitor import runs


def test_execution_records(settings: Settings) -> None:
    runs.start(settings, "r1", "ep", "s3://scones/data_capture/ep/AllTraffic", "s3://b", None, "2026-01-01T00:00:00Z")
    assert runs.executions(settings)[0].status == "InProgress"
    runs.finish(settings, "r1", "CompletedWithViolations", records=10, violations=2, output="s3://scones/out")
    runs.start(settings, "r2", "other", "c", "b", None, None)
    runs.finish(settings, "r2", "Failed", failure_reason="No captured data at c")
    first = runs.executions(settings, "ep")[0]
    assert (first.status, first.records, first.violations, first.finished is not None) == (
        "CompletedWithViolations",
        10,
        2,
        True,
    )
    assert [e.run_id for e in runs.executions(settings)] == ["r2", "r1"]
    with pytest.raises(MonitorError, match="Unknown execution status"):
        runs.finish(settings, "r1", "Done")


def test_intervals_and_times() -> None:
    assert [runs.parse_interval(t) for t in ("90s", "15m", "1h", "1d", "30")] == [90, 900, 3600, 86400, 30]
    now = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
    assert runs.parse_time("2h", now) == datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    assert runs.parse_time("2026-03-12T14:32:09Z") == datetime(2026, 3, 12, 14, 32, 9, tzinfo=UTC)
    assert runs.parse_time("2026-03-12T14:32:09").tzinfo is UTC
    for bad in ("0m", "soon", "-1h"):
        with pytest.raises(MonitorError):
            runs.parse_interval(bad)
    with pytest.raises(MonitorError, match="ISO-8601"):
        runs.parse_time("last tuesday")
