"""scones: ship the Scones Unlimited bicycle/motorcycle classifier as an event-driven service.

Stages, in the order data flows: `scones.data` (stage), `scones.model` (train, artifact),
`scones.endpoint` (serve, capture), `scones.functions` + `scones.workflow` (compose),
`scones.monitor` (evaluate, drift). Importing `scones` is light: no torch, no onnxruntime.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
