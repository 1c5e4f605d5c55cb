"""Waiting for captured data to settle: the capture writer's held records are on the store after it."""

from __future__ import annotations

import threading
import time

import pytest

from scones.endpoint.capture import CaptureConfig, CaptureWriter
from scones.endpoint.settle import captured_bytes, wait_for_capture
from scones.errors import InvalidKey
from scones.storage import Store
from tests.helpers import png_bytes

LOCATION = "s3://scones/data_capture/settle-endpoint/AllTraffic"


def test_wait_returns_once_the_writer_has_written_the_records_it_held(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100, max_file_seconds=1.0), "settle-endpoint")
    try:
        for _ in range(3):
            assert writer.offer(png_bytes(), "image/png", '{"probabilities": [0.9, 0.1]}', "application/json")
        assert captured_bytes(store, LOCATION) == 0  # held for up to a second: nothing written yet
        total = wait_for_capture(store, LOCATION, quiet=2.0, timeout=20.0)
        assert writer.written == 3
        assert total > 0 and total == sum(info.size for info in store.list("scones", "data_capture"))
    finally:
        writer.close()


def test_wait_gives_up_after_the_timeout_while_capture_keeps_growing(store: Store) -> None:
    stop = threading.Event()

    def keep_writing() -> None:
        count = 0
        while not stop.is_set():
            store.put("scones", f"data_capture/settle-endpoint/AllTraffic/file-{count}.jsonl", b"{}\n")
            count += 1
            time.sleep(0.1)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        started = time.monotonic()
        total = wait_for_capture(store, LOCATION, quiet=5.0, timeout=1.5)
        assert time.monotonic() - started < 4.0 and total > 0
    finally:
        stop.set()
        thread.join()


def test_a_location_that_is_not_an_s3_uri_is_a_clear_error(store: Store) -> None:
    with pytest.raises(InvalidKey, match="Not an s3:// URI"):
        wait_for_capture(store, "/tmp/data_capture", quiet=0.1, timeout=1.0)
