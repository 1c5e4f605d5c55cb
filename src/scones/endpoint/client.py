"""Calling a named endpoint over HTTP, as `scones invoke` and tests do (httpx)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scones.config import Settings
from scones.endpoint.registry import describe
from scones.errors import EndpointError

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


@dataclass(frozen=True)
class Prediction:
    source: str
    probabilities: list[float]
    classes: list[str]

    @property
    def label(self) -> str:
        best = max(range(len(self.probabilities)), key=self.probabilities.__getitem__)
        return self.classes[best] if best < len(self.classes) else str(best)


def content_type(data: bytes) -> str:
    """image/png or image/jpeg from the magic bytes; application/x-image for anything else."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "application/x-image")


def invoke(settings: Settings, name: str, data: bytes, source: str = "body", timeout: float = 60.0) -> Prediction:
    """POST one image to endpoint `name` (its public runtime route) and parse the probabilities."""
    import httpx

    record = describe(settings, name)
    if record.status != "InService":
        raise EndpointError(f"Endpoint {name} is {record.status}, not InService; deploy it with 'scones deploy'")
    headers = {"Content-Type": content_type(data), "Accept": "application/json"}
    if settings.auth_token:
        headers["Authorization"] = f"Bearer {settings.auth_token}"
    try:
        response = httpx.post(
            f"{record.url}/endpoints/{name}/invocations", content=data, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise EndpointError(f"Cannot reach endpoint {name} at {record.url} ({exc}); check 'scones endpoints'") from exc
    if response.status_code != 200:
        try:
            error = response.json()
            detail = f"{error['type']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        raise EndpointError(f"Endpoint {name} answered {response.status_code} for {source}: {detail}")
    probabilities = json.loads(response.content)
    return Prediction(source, [float(p) for p in probabilities], list(record.config.get("classes", [])))


def invoke_files(settings: Settings, name: str, paths: list[Path]) -> list[Prediction]:
    """Invoke once per file, in order; a missing file fails before anything is sent."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise EndpointError(f"No such file: {', '.join(missing)}; give paths to PNG or JPEG images")
    return [invoke(settings, name, path.read_bytes(), str(path)) for path in paths]
