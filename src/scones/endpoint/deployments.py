"""Blue/green deployments with guardrails: all-at-once, canary or linear, with automatic rollback.

`deploy_model` moves a running endpoint from its model (the old variant) to a candidate, which
joins the endpoint as a second production variant named `Candidate`. Traffic shifts by the
router's weights, so no request fails and each finishes on the model that took it:

    all-at-once  Started (old alone, a reference window) -> Baking (candidate 100%) -> Completed
    canary       Started -> Canary (candidate P%) -> Baking (100%) -> Completed
    linear       Started -> Shifting (step, 2 x step, ...) -> Baking (100%) -> Completed

Every poll, the candidate's window is judged against the old model's over the same window
(`guardrails.judge`; during Baking, against the old model's last window with traffic), and a share
of the candidate's requests is mirrored to the old model to count their disagreement. At the end
of each judged window, the caller's `checks` run too (the CLI passes a monitor run on the
candidate's captured window: this stage cannot import the monitor's). A trigger,
or `scones update-endpoint NAME --rollback` from anywhere, sends all traffic back to the old
model (RolledBack, with the trigger and the figures). On completion the old variant's name
serves the candidate's model and `Candidate` is retired. Every phase is recorded in the
`endpoint_deployments` table (`table.py`), listed by `scones deployments NAME`.

One deployment at a time per endpoint: the first row's insert is the claim, and a unique index
on the table refuses a second active one. A deployment whose process died mid-way is rolled back
by the next command that looks (`recover`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

from scones import state
from scones.config import Settings
from scones.endpoint import process, registry, table, variants
from scones.endpoint.guardrails import Figures, Triggers, Watch, judge
from scones.endpoint.table import DeploymentRecord
from scones.endpoint.variants import Variant
from scones.errors import ConfigError, EndpointError, SconesError

STRATEGIES = ("all-at-once", "canary", "linear")
CANDIDATE = "Candidate"

# A check run at the end of each judged window: (candidate variant, window start, ISO) -> (trigger, figures) or None.
Check = Callable[[str, str], tuple[str, dict[str, Any]] | None]


@dataclass(frozen=True)
class Strategy:
    """How traffic moves: SageMaker's TrafficRoutingConfiguration plus the bake (TerminationWaitInSeconds)."""

    kind: str = "all-at-once"
    canary_percent: float = 10.0
    linear_step: float = 25.0
    interval_seconds: float = 30.0
    bake_seconds: float = 30.0
    poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in STRATEGIES:
            raise ConfigError(f"Strategy {self.kind!r} is not one of {', '.join(STRATEGIES)}")
        for label, value in (("--canary-percent", self.canary_percent), ("--linear-step", self.linear_step)):
            if not 0 < value < 100:
                raise ConfigError(f"{label} is {value}; give a share of traffic between 0 and 100 (exclusive)")
        if self.interval_seconds < 0 or self.bake_seconds < 0 or self.poll_seconds <= 0:
            raise ConfigError("--interval-seconds and --bake-seconds must be 0 or more")

    def shares(self) -> list[float]:
        """The candidate's share of traffic at each step before the bake."""
        if self.kind == "canary":
            return [self.canary_percent]
        if self.kind == "linear":
            steps = int(100 // self.linear_step)
            return [self.linear_step * i for i in range(1, steps + 1) if self.linear_step * i < 100]
        return []


class _RolledBack(Exception):
    def __init__(self, trigger: str, figures: dict[str, Any]) -> None:
        super().__init__(trigger)
        self.trigger, self.figures = trigger, figures


def deploy_model(
    settings: Settings,
    name: str,
    model: str,
    strategy: Strategy,
    triggers: Triggers | None = None,
    timeout: float = 120.0,
    on_phase: Callable[[dict[str, Any]], None] | None = None,
    checks: Sequence[Check] = (),
) -> DeploymentRecord:
    """Move endpoint `name` to `model` by `strategy`; returns the deployment's record (Completed or RolledBack)."""
    triggers = triggers or Triggers()
    recover(settings, name, timeout)
    record = registry.in_service(settings, name)
    before = variants.from_config(record.config, record.model)
    production = [v for v in before if not v.shadow]
    with closing(table.connect(settings)) as conn:  # the clearest refusal first; the claim below is the guard
        if any(d.status in table.ACTIVE for d in table.deployments(conn, name)):
            raise EndpointError(f"A deployment on {name} is in progress; wait, or stop it with --rollback")
    if len(production) != 1:
        raise EndpointError(
            f"{name} serves {len(production)} production variants; a deployment replaces one. "
            "Set one variant's weight to 0 first ('scones update-endpoint-weights') or redeploy"
        )
    old = production[0]
    label = CANDIDATE if old.name != CANDIDATE else f"{CANDIDATE}-2"
    (candidate,) = registry.resolve_variants(settings, [Variant(label, model)])
    candidate = replace(candidate, compare_with=old.name, compare_share=triggers.compare_share)
    started = {"phase": "Started", "at": state.now(), "candidate": candidate.model,
               "model_sha256": candidate.model_sha256, **_owner()}  # fmt: skip
    deployment = DeploymentRecord(
        id=uuid.uuid4().hex[:12], name=name, strategy=strategy.kind, status="InProgress", model=candidate.model,
        previous=[v.to_dict() for v in before], phases=[started], created=started["at"], updated=started["at"],
    )  # fmt: skip
    with closing(table.connect(settings)) as conn:
        if not table.claim_deployment(conn, deployment):  # the database's constraint: one at a time
            raise EndpointError(f"A deployment on {name} is in progress; wait, or stop it with --rollback")
    run = _Run(settings, deployment, before, old, candidate, strategy, triggers, timeout, on_phase, checks)
    return run.go(record.url)


class _Run:
    """One deployment's progress: the watch, the phases, and the one row it writes."""

    def __init__(
        self, settings: Settings, deployment: DeploymentRecord, before: list[Variant], old: Variant,
        candidate: Variant, strategy: Strategy, triggers: Triggers, timeout: float,
        on_phase: Callable[[dict[str, Any]], None] | None, checks: Sequence[Check] = (),
    ) -> None:  # fmt: skip
        self.settings, self.deployment, self.before, self.old = settings, deployment, before, old
        self.candidate, self.strategy, self.triggers, self.timeout = candidate, strategy, triggers, timeout
        self.on_phase, self.checks = on_phase, checks
        self.reference: Figures | None = None  # the old model's last window with traffic

    def go(self, url: str) -> DeploymentRecord:
        self.watch = Watch(url, self.settings.auth_token)
        if self.on_phase is not None:
            self.on_phase(self.deployment.phases[0])  # Started: written when the deployment claimed the endpoint
        shadows = [v for v in self.before if v.shadow]
        try:
            if self.strategy.kind == "all-at-once":
                self._window(self.strategy.interval_seconds, judging=False)  # the old model's reference
            for share in self.strategy.shares():
                self._serve([replace(self.old, weight=100 - share), replace(self.candidate, weight=share), *shadows])
                self._phase("Canary" if self.strategy.kind == "canary" else "Shifting", candidate_percent=share)
                self._window(self.strategy.interval_seconds)
            self._serve([replace(self.old, weight=0.0), replace(self.candidate, weight=1.0), *shadows])
            self._phase("Baking", candidate_percent=100, seconds=self.strategy.bake_seconds)
            self._window(self.strategy.bake_seconds)
        except _RolledBack as stop:
            self._serve(self.before)  # all traffic back to the old model; Candidate leaves once idle
            return self._phase("RolledBack", "RolledBack", trigger=stop.trigger, figures=stop.figures)
        except BaseException as exc:  # the endpoint must not stay half-shifted: back to the old model, then say why
            try:
                self._serve(self.before)
            finally:
                self._phase("Failed", "Failed", error=f"{type(exc).__name__}: {exc}")
            raise
        done = replace(self.candidate, name=self.old.name, weight=1.0, compare_with="", compare_share=0.0)
        self._serve([done, *shadows])  # the old name, the new model
        return self._phase("Completed", "Completed")

    def _serve(self, wanted: list[Variant]) -> None:
        registry.apply_variants(self.settings, self.deployment.name, wanted, self.timeout)

    def _window(self, seconds: float, judging: bool = True) -> None:
        """Watch for `seconds`; raise _RolledBack when a trigger fires or a stop is asked for."""
        self.watch.look()
        self.watch.restart()
        started = state.now()
        deadline = time.monotonic() + seconds
        while True:
            time.sleep(min(self.strategy.poll_seconds, max(0.0, deadline - time.monotonic())))
            self.watch.look()
            window = self.watch.window()
            old, new = window.get(self.old.name), window.get(self.candidate.name)
            if old is not None and old.requests >= self.triggers.min_requests:
                self.reference = old
            if self._stop_asked():
                figures = {"candidate": new.summary(self.triggers.low_confidence_below) if new else None}
                raise _RolledBack("manual", figures)
            if judging and new is not None:
                fired = judge(old if old and old.requests else self.reference, new, self.triggers)
                if fired is not None:
                    raise _RolledBack(*fired)
            if time.monotonic() >= deadline:
                break
        for check in self.checks if judging else ():
            fired = check(self.candidate.name, started)
            if fired is not None:
                raise _RolledBack(*fired)

    def _stop_asked(self) -> bool:
        with closing(table.connect(self.settings)) as conn:
            return table.deployment_status(conn, self.deployment.id) == "Stopping"

    def _phase(self, phase: str, status: str | None = None, **details: Any) -> DeploymentRecord:
        entry = {"phase": phase, "at": state.now(), **details}
        phases = [*self.deployment.phases, entry]
        self.deployment = replace(self.deployment, phases=phases, status=status or self.deployment.status)
        with closing(table.connect(self.settings)) as conn:
            if table.deployment_status(conn, self.deployment.id) == "Stopping" and status is None:
                self.deployment = replace(self.deployment, status="Stopping")  # keep the request to stop
            table.put_deployment(conn, self.deployment)
        if self.on_phase is not None:
            self.on_phase(entry)
        return self.deployment


def _owner() -> dict[str, Any]:
    """The process running a deployment (its pid and start time), so that others can tell when it died."""
    return {"pid": os.getpid(), "ticks": process.start_ticks(os.getpid())}


def recover(settings: Settings, name: str, timeout: float = 120.0) -> list[DeploymentRecord]:
    """Roll back `name`'s deployments whose process died mid-way (killed, crashed, the machine restarted).

    Such a deployment leaves the endpoint split between the old model and the candidate, and its
    row active (so no other deployment could start). The first caller that sees it (the next
    `update-endpoint`, `--rollback` or `scones deployments`) takes it over atomically
    (`table.take_over`) and sends all traffic back to the variants it replaced: RolledBack, with
    the trigger `interrupted`. Returns the deployments it resolved.
    """
    with closing(table.connect(settings)) as conn:
        active = [d for d in table.deployments(conn, name) if d.status in table.ACTIVE]
    resolved = []
    for found in active:
        owner: dict[str, Any] = next((p for p in reversed(found.phases) if "pid" in p), {})
        if process.same_process(owner.get("pid"), owner.get("ticks")):
            continue  # its process runs: it finishes (or rolls back) by itself
        with closing(table.connect(settings)) as conn:
            if not table.take_over(conn, found):
                continue  # someone else took it over first
            taking = {"phase": "Recovering", "at": state.now(), "dead_pid": owner.get("pid"), **_owner()}
            found = replace(found, status="Recovering", phases=[*found.phases, taking])
            table.put_deployment(conn, found)
        interrupted = found.phases[-2]["phase"]
        try:
            registry.apply_variants(settings, name, [Variant(**v) for v in found.previous], timeout)
            entry = {"phase": "RolledBack", "at": state.now(), "trigger": "interrupted",
                     "figures": {"dead_pid": owner.get("pid"), "interrupted_in": interrupted}}  # fmt: skip
            found = replace(found, status="RolledBack", phases=[*found.phases, entry])
        except SconesError as exc:  # e.g. the endpoint itself is gone: nothing to send traffic back to
            entry = {"phase": "Failed", "at": state.now(), "error": f"interrupted in {interrupted}, then: {exc}"}
            found = replace(found, status="Failed", phases=[*found.phases, entry])
        with closing(table.connect(settings)) as conn:
            table.put_deployment(conn, found)
        resolved.append(found)
    return resolved


def stop(settings: Settings, name: str) -> DeploymentRecord:
    """Ask the deployment in progress on `name` to roll back (its own process does it at its next poll)."""
    for done in recover(settings, name):
        return done  # its process had died: rolled back here and now
    with closing(table.connect(settings)) as conn:
        found = table.request_stop(conn, name)
    if found is None:
        raise EndpointError(f"No deployment is in progress on {name}; 'scones deployments {name}' lists them")
    return found


def history(settings: Settings, name: str) -> list[DeploymentRecord]:
    """`name`'s deployments, newest first (one whose process died is rolled back first: `recover`)."""
    recover(settings, name)
    with closing(table.connect(settings)) as conn:
        return table.deployments(conn, name)
