"""A deployment's monitor trigger: the candidate's captured window checked against the endpoint's baseline.

`scones update-endpoint --strategy ... --max-monitor-violations N` passes `monitor_check` to
`endpoint.deployments.deploy_model` (which cannot import this later stage). At the end of each
judged window it runs the monitor (`service.run_monitor`, recorded like any run) on what the
candidate variant captured since the window opened, under `{capture}/{endpoint}/{variant}/`,
and fires when the run finds more than N violations. The capture writer closes a file within
`max_file_seconds`, so the check first waits that long for the window's last records.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from scones.config import Settings
from scones.endpoint.capture import CaptureConfig
from scones.endpoint.deployments import Check
from scones.errors import ConfigError, MonitorError
from scones.monitor import baseline as baselines
from scones.monitor.captured import capture_prefix, default_destination
from scones.monitor.service import NoCapturedData, RunRequest, run_monitor
from scones.monitor.sources import baseline_uri
from scones.storage import Store


def monitor_check(settings: Settings, name: str, max_violations: int, settle_seconds: float | None = None) -> Check:
    """A `Check` that runs the monitor on the candidate's window; a run with > `max_violations` fires."""
    if max_violations < 0:
        raise ConfigError(f"--max-monitor-violations is {max_violations}; give 0 or more")
    settle = CaptureConfig().max_file_seconds + 0.5 if settle_seconds is None else settle_seconds
    baseline = baseline_uri(settings, name)
    if not baselines.exists(Store(settings), baseline):  # refused before any traffic moves
        raise MonitorError(
            f"No monitoring baseline for {name} at {baseline}; make one with "
            f"'scones monitor baseline --endpoint {name}', or drop --max-monitor-violations"
        )

    def check(variant: str, since: str) -> tuple[str, dict[str, Any]] | None:
        from scones.endpoint import table

        record = table.find(settings, name)
        config = record.config if record else {}
        destination = config.get("capture_destination") or default_destination(settings.bucket)
        capture = capture_prefix(destination, name, variant)
        time.sleep(settle)  # the window's last records reach a closed file
        request = RunRequest(
            endpoint=name, capture=capture, baseline=baseline,
            since=datetime.fromisoformat(since.replace("Z", "+00:00")),
        )  # fmt: skip
        try:
            result = run_monitor(settings, Store(settings), request)
        except NoCapturedData:
            return None  # nothing captured for the candidate yet: nothing to judge
        if len(result.violations) <= max_violations:
            return None
        return "monitor_violation", {
            "run_id": result.run_id, "records": result.window.counts.get("records", 0),
            "violations": [v.get("feature_name", v.get("constraint_check_type", "")) for v in result.violations],
            "max_violations": max_violations, "report": result.report,
        }  # fmt: skip

    return check
