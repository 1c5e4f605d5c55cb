"""Stage 2b, endpoint: the real-time inference server with data capture, and its registry.

    serve(settings, config, model)      run one endpoint in the foreground (the container's `serve`)
    deploy(settings, config, model)     start a named endpoint in the background, wait until InService
    describe / list_endpoints / delete  the `endpoints` table, checked against the processes
    invoke(settings, name, data)        call a named endpoint over HTTP

Names resolve lazily (PEP 562) so importing this package does not load ONNX Runtime or NumPy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CaptureConfig": "scones.endpoint.capture",
    "CaptureWriter": "scones.endpoint.capture",
    "EndpointConfig": "scones.endpoint.service",
    "InferenceService": "scones.endpoint.service",
    "delete": "scones.endpoint.registry",
    "deploy": "scones.endpoint.registry",
    "describe": "scones.endpoint.registry",
    "endpoint_config": "scones.endpoint.server",
    "invoke": "scones.endpoint.client",
    "list_endpoints": "scones.endpoint.registry",
    "serve": "scones.endpoint.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scones.endpoint' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
