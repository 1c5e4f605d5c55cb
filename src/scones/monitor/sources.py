"""Where the monitor finds things: an endpoint's model and captured data, and baseline/run folders.

Endpoints are read from the `endpoints` table through its owner (`scones.endpoint.table`): the model it serves
and its capture configuration (`capture_destination`, `variant` in the `config` JSON; the
destination defaults to s3://<bucket>/data_capture as in scones' capture writer). Baselines
and run results live in the default bucket under `monitoring/<name>/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from scones.config import Settings
from scones.endpoint import table
from scones.errors import MonitorError
from scones.keys import join_key, s3_uri
from scones.monitor.captured import DEFAULT_VARIANT, capture_prefix, default_destination


@dataclass(frozen=True)
class EndpointInfo:
    """What the monitor needs to know about an endpoint."""

    name: str
    model: str | None  # the artifact location it serves; None when not registered
    capture: str  # the location of its captured files (destination/endpoint/variant)
    registered: bool
    classes: list[str] | None = None  # as registered by the endpoint, when it was


def endpoint_info(settings: Settings, name: str) -> EndpointInfo:
    """The endpoint's model and capture location (defaults when it is not in the endpoints table)."""
    record = table.find(settings, name)
    config = record.config if record else {}
    destination = config.get("capture_destination") or default_destination(settings.bucket)
    variant = config.get("variant") or DEFAULT_VARIANT
    return EndpointInfo(
        name=name,
        model=record.model if record else None,
        capture=capture_prefix(destination, name, variant),
        registered=record is not None,
        classes=list(config["classes"]) if isinstance(config.get("classes"), list) else None,
    )


def model_location(settings: Settings, model: str) -> str:
    """A model.tar.gz path, folder, s3:// URI or training job name -> an artifact location."""
    from scones.endpoint.registry import resolve_model  # the endpoint stage's rule, shared

    return resolve_model(settings, model)


def latest_model(settings: Settings) -> str:
    """The model of the default endpoint, else the newest completed training job's artifact."""
    info = endpoint_info(settings, settings.endpoint_name)
    if info.model:
        return info.model
    from scones.model.jobs import latest_completed  # stage 2a, imported only when needed

    job = latest_completed(settings)
    if job is None:
        raise MonitorError("No deployed endpoint and no completed training job; pass --model, or run 'scones train'")
    return str(job["artifact_uri"])


def monitoring_uri(settings: Settings, name: str, *parts: str) -> str:
    """s3://<bucket>/monitoring/<name>/<parts...>."""
    safe = name.replace("/", "-").strip("-") or "default"
    return s3_uri(settings.bucket, join_key("monitoring", safe, *parts))


def baseline_uri(settings: Settings, name: str) -> str:
    return monitoring_uri(settings, name, "baseline")
