"""Waiting for an endpoint's captured data to settle before it is read.

The capture writer (capture.py) holds records for up to `max_file_seconds` before it writes
a file, so captured data read right after the last request can miss the newest records. A
reader that needs all of them (the demo's monitor step) waits until the bytes under the
endpoint's capture location have stopped growing for longer than that.
"""

from __future__ import annotations

import time

from scones.endpoint.capture import CaptureConfig
from scones.errors import EndpointError, StorageError
from scones.keys import parse_s3_uri
from scones.storage import Store

QUIET_SECONDS = CaptureConfig().max_file_seconds + 1  # by then the writer has written any file it held
TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.5


def captured_bytes(store: Store, location: str) -> int:
    """The bytes of every captured file under `location` (s3://bucket/prefix in the configured store)."""
    bucket, prefix = parse_s3_uri(location)
    try:
        return sum(info.size for info in store.list(bucket, prefix))
    except StorageError as exc:
        raise EndpointError(f"Cannot list captured data at {location} ({exc}); check the location") from exc


def wait_for_capture(
    store: Store, location: str, quiet: float = QUIET_SECONDS, timeout: float = TIMEOUT_SECONDS
) -> int:
    """Wait until the bytes under `location` have not grown for `quiet` seconds (at most `timeout`); return them."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        size = captured_bytes(store, location)
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(POLL_SECONDS)
    return last
