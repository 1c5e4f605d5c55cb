"""serializeImageData: fetch `s3_bucket`/`s3_key` and put the image into the event as base64.

Input `{"s3_bucket", "s3_key"}` (an empty `image_data` is tolerated, as the seed sent one);
output the seed's event `{"statusCode": 200, "body": {"image_data": "<base64 str>",
"s3_bucket", "s3_key", "inferences": []}}`. The seed returned bytes, which are not JSON.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from scones.functions import _clients, _event, _settings
from scones.functions.errors import PayloadTooLarge


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = _settings.load()
    body = _event.body_of(event)
    bucket, key = _event.text_field(body, "s3_bucket"), _event.text_field(body, "s3_key")
    image = _clients.read_object(settings, bucket, key)
    result = _event.answer(
        {"image_data": base64.b64encode(image).decode("ascii"), "s3_bucket": bucket, "s3_key": key, "inferences": []}
    )
    size = len(json.dumps(result))
    if size > _settings.STATE_PAYLOAD_LIMIT:
        raise PayloadTooLarge(f"The event for s3://{bucket}/{key} is {size} bytes, over the state limit; resize it")
    return result
