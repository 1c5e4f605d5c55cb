"""classify: send the event's image to the configured endpoint and add `inferences`.

The endpoint is `SCONES_ENDPOINT_NAME` (default the seed's `bike-motorbike-image-classifier`):
a local scones endpoint found through the state database, or a SageMaker endpoint through
`sagemaker-runtime`. Failures are EndpointUnavailable (retryable), ModelError or
EndpointNotFound (not).
"""

from __future__ import annotations

from typing import Any

from scones.functions import _clients, _event, _settings


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = _settings.load()
    body = _event.body_of(event)
    image = _event.image_bytes(body)
    return _event.answer({**body, "inferences": _clients.classify(settings, image)})
