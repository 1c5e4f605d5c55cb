"""classify: send the event's image to the configured endpoint and add `inferences`.

The endpoint is `SCONES_ENDPOINT_NAME` (default the seed's `bike-motorbike-image-classifier`):
a local scones endpoint found through the state database, or a SageMaker endpoint through
`sagemaker-runtime`. Failures are EndpointUnavailable (retryable), ModelError or
EndpointNotFound (not); an image too large for a state payload is PayloadTooLarge before
any endpoint is called.
"""

from __future__ import annotations

from typing import Any

from scones.functions import _clients, _event, _settings
from scones.functions.errors import PayloadTooLarge


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = _settings.load()
    body = _event.body_of(event)
    image = _event.image_bytes(body)
    if len(image) > _clients.MAX_IMAGE_BYTES:  # the answer carries the image on: it must fit a state too
        raise PayloadTooLarge(
            f"image_data holds {len(image)} bytes; at most {_clients.MAX_IMAGE_BYTES} fit the "
            f"{_settings.STATE_PAYLOAD_LIMIT}-byte state payload limit; resize the image"
        )
    return _event.answer({**body, "inferences": _clients.classify(settings, image)})
