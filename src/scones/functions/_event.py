"""The event shape passed between the functions (reference section 5), in both forms.

The seed's functions answer `{"statusCode": 200, "body": {...}}`. Definitions that use
`OutputPath: $.Payload` hand that whole document to the next function; those that use
`$.Payload.body` hand over the body's fields at the top level. `body_of` accepts both (and
a body that is a JSON string, as some versions of the seed's filter returned); `answer`
always returns the seed's wrapped shape, which both kinds of OutputPath can select from.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from scones.functions.errors import InvalidEvent


def body_of(event: Any) -> dict[str, Any]:
    """The pipeline fields of `event`, whether wrapped in {"statusCode", "body"} or flat."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"Event must be a JSON object, got {type(event).__name__}; send {{'s3_bucket', 's3_key'}}")
    body = event.get("body", event)
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"Event 'body' is a string that is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidEvent(f"Event 'body' must be an object, got {type(body).__name__}")
    return body


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The seed's response shape."""
    return {"statusCode": 200, "body": body}


def text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"Event field {name!r} must be a non-empty string, got {value!r}")
    return value


def image_bytes(body: dict[str, Any]) -> bytes:
    """Decode the event's base64 `image_data`."""
    data = text_field(body, "image_data")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEvent(
            f"Event field 'image_data' is not valid base64: {exc}; run serialize_image_data first"
        ) from exc


def inferences(body: dict[str, Any]) -> list[float]:
    values = body.get("inferences")
    if not isinstance(values, list) or not values or not all(_is_probability(v) for v in values):
        raise InvalidEvent(
            f"Event field 'inferences' must be a non-empty list of probabilities (0 to 1), got {values!r}"
        )
    return [float(v) for v in values]


def _is_probability(value: Any) -> bool:
    # NaN compares False with everything, so max([nan]) < threshold would let it pass the filter.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
