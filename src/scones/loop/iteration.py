"""`scones loop run NAME`: one iteration of the review loop, by a policy, recorded in the state database.

Pull new captures into the review queue; check the policy's triggers against what happened
since the last iteration (new labels, a monitoring violation, the schedule); when one holds,
stage a dataset version with the reviewed images and retrain (`retrain.py`: compare, register,
roll out when the gates pass). Every iteration, skipped or not, is a row of `loop_iterations`
(`table.py`), shown by `scones loop iterations` and the console's Loop page.
"""

from __future__ import annotations

from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import DataError, SconesError
from scones.loop import table
from scones.loop.policy import Policy
from scones.loop.retrain import RetrainOptions, retrain
from scones.loop.versions import add_reviewed_for
from scones.progress import NullProgress, Progress
from scones.storage import Store


def due(settings: Settings, endpoint: str, policy: Policy, now: str | None = None) -> tuple[str | None, str]:
    """(the trigger that holds or None, why): what happened since the endpoint's last iteration that ran."""
    from datetime import datetime

    from scones.monitor.runs import executions
    from scones.review import queue

    now = now or state.now()
    last = next((i for i in table.iterations(settings, endpoint) if i["status"] != "Skipped"), None)
    since = last["started"] if last else ""
    if not policy.has_triggers:
        return "manual", "the policy has no triggers: every iteration runs"
    labelled = sum(1 for item in queue.reviewed(settings, endpoint) if item.labelled_at > since)
    if policy.new_labels is not None and labelled >= policy.new_labels:
        return "labels", f"{labelled} new label(s) since the last iteration (policy: {policy.new_labels})"
    if policy.monitor_violation:
        latest = next(iter(executions(settings, endpoint, limit=1)), None)
        if latest is not None and latest.started > since and (latest.violations or 0) > 0:
            return "violation", f"monitoring execution {latest.run_id} reported {latest.violations} violation(s)"
    if policy.every_seconds is not None:
        if not last:
            return "schedule", "no iteration has run yet"
        parse = datetime.fromisoformat
        elapsed = (parse(now.replace("Z", "+00:00")) - parse(since.replace("Z", "+00:00"))).total_seconds()
        if elapsed >= policy.every_seconds:
            return "schedule", f"{elapsed:.0f} s since the last iteration (policy: every {policy.every_seconds:.0f} s)"
    return None, f"no trigger holds: {labelled} new label(s), no new violation, not yet scheduled"


def run_iteration(
    settings: Settings, endpoint: str, policy: Policy, progress: Progress | None = None, on_phase: Any = None
) -> dict[str, Any]:
    """One iteration; its record (status Skipped, Deployed, PendingManualApproval, RolledBack or Failed)."""
    from scones.review import queue

    progress = progress or NullProgress()
    pulled = queue.refresh(settings, endpoint)
    trigger, why = due(settings, endpoint, policy)
    if trigger is None:
        iteration = table.start_iteration(settings, endpoint, "none")
        table.finish_iteration(settings, iteration, "Skipped", why, {"queued": pulled})
        return table.iterations(settings, endpoint, limit=1)[0]
    iteration = table.start_iteration(settings, endpoint, trigger)
    details: dict[str, Any] = {"why": why, "queued": pulled, "policy": policy.source}
    try:
        try:
            version = add_reviewed_for(
                settings, Store(settings), endpoint, test_share=policy.test_share, progress=progress
            )
        except DataError as exc:
            if "already in" in str(exc) or "No reviewed images" in str(exc):
                table.finish_iteration(settings, iteration, "Skipped", str(exc), details)
                return table.iterations(settings, endpoint, limit=1)[0]
            raise
        details["dataset"] = {"uri": version.uri, "counts": version.counts, "added": version.added}
        options = RetrainOptions(
            dataset=version.uri, epochs=policy.epochs, gates=policy.gates, strategy=policy.strategy
        )
        result = retrain(settings, endpoint, options, progress=progress, on_phase=on_phase)
    except SconesError as exc:
        table.finish_iteration(settings, iteration, "Failed", str(exc), details)
        raise
    details["retrain"] = result
    decision = result["decision"]
    status = {"Approved": "Deployed", "Rejected": "RolledBack"}.get(decision["status"], "PendingManualApproval")
    table.finish_iteration(settings, iteration, status, decision["reason"], details)
    return table.iterations(settings, endpoint, limit=1)[0]
