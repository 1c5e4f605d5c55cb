"""UpdateEndpoint's DeploymentConfig as a scones blue/green deployment (`scones.endpoint.deployments`).

BlueGreenUpdatePolicy.TrafficRoutingConfiguration maps to a `Strategy`: ALL_AT_ONCE, CANARY
(CanarySize) or LINEAR (LinearStepSize), sizes as CAPACITY_PERCENT, WaitIntervalInSeconds as
the interval and TerminationWaitInSeconds as the bake. AutoRollbackConfiguration.Alarms name
the local triggers (`guardrails.Triggers`): an alarm named `error_rate`, `p99_latency`,
`low_confidence` or `disagreement` (hyphens or any case) arms that trigger with its default
threshold, and so do the alarms `scones aws deploy` writes for AWS (`<endpoint>-<variant>-5xx-errors`
arms error_rate, `...-p99-model-latency` p99_latency: `scones.aws.rollout.LOCAL_TRIGGERS`), so the
DeploymentConfig it sends runs here unchanged; triggers not named stay off (disagreement's
mirrored comparisons included), as on AWS no alarm means no automatic rollback. The deployment is
recorded as `scones update-endpoint --strategy` records it, so `scones deployments NAME` lists it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from scones.aws.rollout import LOCAL_TRIGGERS
from scones.config import Settings
from scones.endpoint.deployments import Strategy, deploy_model
from scones.endpoint.guardrails import Triggers
from scones.endpoint.variants import Variant
from scones.errors import SconesError
from scones.localaws.protocol import AwsError

TRIGGERS = ("error_rate", "p99_latency", "low_confidence", "disagreement")
KINDS = {"ALL_AT_ONCE": "all-at-once", "CANARY": "canary", "LINEAR": "linear"}


def plan(settings: Settings, name: str, wanted: list[Variant], config: dict[str, Any]) -> Callable[[], str]:
    """Check the DeploymentConfig now (ValidationException); return the deployment to run (its final status)."""
    production = [v for v in wanted if not v.shadow]
    if len(production) != 1:
        raise AwsError(
            "ValidationException", "A blue/green update locally needs an endpoint config with one production variant"
        )
    strategy, triggers = strategy_of(config)
    model = production[0].model

    def run() -> str:
        return deploy_model(settings, name, model, strategy, triggers).status

    return run


def strategy_of(config: dict[str, Any]) -> tuple[Strategy, Triggers]:
    policy = config.get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind = KINDS.get(str(routing.get("Type", "")))
    if kind is None:
        raise AwsError(
            "ValidationException",
            f"TrafficRoutingConfiguration.Type {routing.get('Type')!r}: use ALL_AT_ONCE, CANARY or LINEAR",
        )
    fields: dict[str, Any] = {
        "kind": kind,
        "interval_seconds": float(routing.get("WaitIntervalInSeconds", 0)),
        "bake_seconds": float(policy.get("TerminationWaitInSeconds", 0)),
    }
    for member, field in (("CanarySize", "canary_percent"), ("LinearStepSize", "linear_step")):
        size = routing.get(member)
        if size:
            if size.get("Type") != "CAPACITY_PERCENT":
                raise AwsError(
                    "ValidationException",
                    f"{member}.Type {size.get('Type')!r}: only CAPACITY_PERCENT is supported locally",
                )
            fields[field] = float(size.get("Value", 0))
    names = [str(a.get("AlarmName", "")) for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
    armed = set()
    for alarm in names:
        trigger = alarm.lower().replace("-", "_")
        trigger = next((t for suffix, t in LOCAL_TRIGGERS.items() if alarm.endswith(f"-{suffix}")), trigger)
        if trigger not in TRIGGERS:
            raise AwsError(
                "ValidationException",
                f"Alarm {alarm!r}: locally an alarm names a trigger, one of {', '.join(TRIGGERS)}, or ends "
                f"in one of scones aws deploy's -{', -'.join(LOCAL_TRIGGERS)}",
            )
        armed.add(trigger)
    off = math.inf
    try:
        strategy = Strategy(**fields)
        triggers = Triggers(
            max_error_rate_increase=Triggers.max_error_rate_increase if "error_rate" in armed else off,
            max_p99_ratio=Triggers.max_p99_ratio if "p99_latency" in armed else off,
            max_low_confidence_increase=Triggers.max_low_confidence_increase if "low_confidence" in armed else off,
            compare_share=Triggers.compare_share if "disagreement" in armed else 0.0,  # 0: nothing mirrored
        )
    except SconesError as exc:
        raise AwsError("ValidationException", str(exc)) from exc
    return strategy, triggers
