"""Endpoints through stage 2b's API (scones.endpoint.registry and .client).

`list_endpoints` and `describe` check each record against its process, so a crashed
endpoint shows Failed here rather than a stale InService.
"""

from __future__ import annotations

from typing import Any

from scones.config import Settings
from scones.errors import EndpointError


def endpoints(settings: Settings) -> list[dict[str, Any]]:
    from scones.endpoint.registry import list_endpoints

    return [r.to_dict() for r in list_endpoints(settings)]


def endpoint(settings: Settings, name: str) -> dict[str, Any] | None:
    from scones.endpoint.registry import describe

    try:
        return describe(settings, name).to_dict()
    except EndpointError:
        return None


def deployments(settings: Settings, name: str) -> list[dict[str, Any]]:
    """`name`'s guarded deployments, newest first, with their phases (scones.endpoint.deployments)."""
    from scones.endpoint.table import find_deployments

    return [d.to_dict() for d in find_deployments(settings, name)]


def scaling(settings: Settings, name: str, pid: int | None, workers: int) -> tuple[list[dict[str, Any]], int]:
    """`name`'s scaling events, newest first, and how many workers its server (`pid`) runs now."""
    from scones.endpoint.table import find_scaling_events

    found = find_scaling_events(settings, name)
    now = next((e.to_workers for e in found if e.pid == pid), workers)
    return [e.to_dict() for e in found], now


def invoke(settings: Settings, name: str, data: bytes, source: str) -> dict[str, Any]:
    """One prediction from endpoint `name`: classes, probabilities, the winner and its confidence."""
    from scones.endpoint.client import invoke as call

    prediction = call(settings, name, data, source=source, timeout=30.0)
    probabilities = prediction.probabilities
    classes = prediction.classes or [f"class {i}" for i in range(len(probabilities))]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {
        "label": prediction.label,
        "confidence": probabilities[best],
        "rows": list(zip(classes, probabilities, strict=False)),
        "passes": probabilities[best] >= settings.threshold,
    }


def delete(settings: Settings, name: str) -> None:
    from scones.endpoint.registry import delete as remove

    remove(settings, name)
