"""SageMaker data capture: request/response records as JSON lines, off the request path.

Record (one line) and key layout are SageMaker's (reference section 4):

    {destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/{MM-SS-mmm}-{uuid4}.jsonl

A request only appends its raw bytes to a bounded in-memory queue (`offer`, never blocks).
A writer thread, woken every 0.2 s or per 256 records, encodes records (base64, JSON),
groups them per hour of invocation, and writes each file as one object when it reaches
`max_file_bytes` or `max_file_seconds`, when the hour changes, and on `close`. If the
destination fails, that file's records are counted as dropped and the next file is tried
afresh, so capture recovers when the destination comes back; a full queue drops and counts
too. `close` writes every accepted record before returning.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from scones.errors import ConfigError
from scones.keys import join_key, parse_s3_uri, validate_prefix
from scones.storage import Store

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = "AllTraffic"
POLL_SECONDS = 0.2  # the writer picks up queued records at least this often
WAKE_RECORDS = 256  # ... or as soon as this many are waiting
YIELD_EVERY = 16  # records encoded between GIL hand-offs (a batch of 256 would hold it ~10 ms)


@dataclass(frozen=True)
class CaptureConfig:
    """Data capture settings (SageMaker's DataCaptureConfig, plus the writer's limits).

    Attributes:
        percent: sampling percentage, 0-100 (0 turns capture off).
        destination: s3://bucket/prefix in the configured store; None means s3://<bucket>/data_capture.
        variant: the production variant name in keys and response headers.
        max_file_bytes: a file is written once it holds this much.
        max_file_seconds: ... or once its first record is this old.
        max_queue_records / max_queue_bytes: the queue bound; beyond it records are dropped.
    """

    percent: float = 0.0
    destination: str | None = None
    variant: str = DEFAULT_VARIANT
    max_file_bytes: int = 4 * 1024 * 1024
    max_file_seconds: float = 5.0
    max_queue_records: int = 20_000
    max_queue_bytes: int = 64 * 1024 * 1024
    json_content_types: tuple[str, ...] = field(default=("application/json",))
    csv_content_types: tuple[str, ...] = field(default=("text/csv",))

    def __post_init__(self) -> None:
        if not 0.0 <= self.percent <= 100.0:
            raise ConfigError(f"Capture percent is {self.percent}; give a sampling percentage from 0 to 100")
        if self.destination is not None and not self.destination.startswith("s3://"):
            raise ConfigError(
                f"Capture destination {self.destination!r} is not an s3:// URI; give s3://BUCKET/PREFIX "
                "(it means the configured store: local folders or S3)"
            )
        if self.destination is not None:  # a bad bucket or a prefix escaping it fails now, not in the server
            validate_prefix(parse_s3_uri(self.destination)[1])


@dataclass(frozen=True)
class _Event:
    body: bytes
    content_type: str
    output: str
    output_type: str
    inference_id: str | None
    time: float


class _File:
    """Lines of one capture file being gathered in memory."""

    def __init__(self, key: str, opened: float) -> None:
        self.key, self.opened = key, opened
        self.lines: list[bytes] = []
        self.size = 0


class CaptureWriter:
    """Accepts records without blocking and writes them to the store on a background thread."""

    def __init__(self, store: Store, config: CaptureConfig, endpoint_name: str) -> None:
        self.store, self.config, self.endpoint_name = store, config, endpoint_name
        destination = config.destination or f"s3://{store.settings.bucket}/data_capture"
        self.bucket, prefix = parse_s3_uri(destination)
        self.prefix = validate_prefix(prefix)
        self.accepted = 0
        self.written = 0
        self.dropped: dict[str, int] = {"queue_full": 0, "destination_error": 0}
        self.files_written = 0
        self._queue: deque[_Event | threading.Event] = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._urgent = False  # a flush is waiting
        self._files: dict[str, _File] = {}
        self._thread = threading.Thread(target=self._run, name="scones-capture", daemon=True)
        self._thread.start()

    @property
    def enabled(self) -> bool:
        return self.config.percent > 0

    def sampled(self) -> bool:
        """Whether this request is in the sample (checked before building anything)."""
        percent = self.config.percent
        return percent >= 100 or (percent > 0 and random.random() * 100 < percent)

    def offer(
        self, body: bytes, content_type: str, output: str, output_type: str, inference_id: str | None = None
    ) -> bool:
        """Queue one record; False (and counted as dropped) when the queue is full or closed."""
        event = _Event(body, content_type, output, output_type, inference_id, time.time())
        size = len(body) + len(output)
        with self._cond:
            full = len(self._queue) >= self.config.max_queue_records
            if self._closing or full or self._queued_bytes + size > self.config.max_queue_bytes:
                self.dropped["queue_full"] += 1
                return False
            self._queue.append(event)
            self._queued_bytes += size
            self.accepted += 1
            # Wake the writer per batch, not per record: thread switches cost more than encoding.
            if len(self._queue) == WAKE_RECORDS:
                self._cond.notify()
        return True

    def flush(self, timeout: float = 30.0) -> None:
        """Write every record accepted so far (tests and shutdown); returns when done."""
        done = threading.Event()
        with self._cond:
            self._queue.append(done)
            self._urgent = True
            self._cond.notify()
        done.wait(timeout)

    def close(self, timeout: float = 25.0) -> None:
        """Stop accepting, write everything accepted, stop the thread (SIGTERM leaves us 30 s)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("Capture writer did not finish within %.0f s; some records may be lost", timeout)

    # -- writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if not (self._closing or self._urgent or len(self._queue) >= WAKE_RECORDS):
                    self._cond.wait(self._wait_seconds())
                items = list(self._queue)
                self._queue.clear()
                self._queued_bytes = 0
                self._urgent = False
                closing = self._closing
            for number, item in enumerate(items, start=1):
                if isinstance(item, threading.Event):
                    self._write_all()
                    item.set()
                else:
                    self._add(item)
                if number % YIELD_EVERY == 0:
                    time.sleep(0)  # hand the GIL to the event loop and the batcher: they serve requests
            self._write_due()
            if closing:
                self._write_all()
                return

    def _wait_seconds(self) -> float:
        """Until the next poll, or sooner if a file becomes due."""
        if not self._files:
            return POLL_SECONDS
        oldest = min(f.opened for f in self._files.values())
        return max(0.0, min(POLL_SECONDS, oldest + self.config.max_file_seconds - time.time()))

    def _add(self, event: _Event) -> None:
        hour = time.strftime("%Y/%m/%d/%H", time.gmtime(event.time))
        if hour not in self._files:
            for other in [h for h in self._files if h != hour]:  # the hour changed: close its file
                self._write(self._files.pop(other))
            self._files[hour] = _File(self._key(hour, event.time), event.time)
        file = self._files[hour]
        line = self._encode(event)
        file.lines.append(line)
        file.size += len(line)
        if file.size >= self.config.max_file_bytes:
            self._write(self._files.pop(hour))

    def _key(self, hour: str, at: float) -> str:
        stamp = time.strftime("%M-%S", time.gmtime(at)) + f"-{int(at * 1000) % 1000:03d}"
        name = f"{hour}/{stamp}-{uuid.uuid4()}.jsonl"
        return join_key(self.prefix, self.endpoint_name, self.config.variant, name)

    def _write_due(self) -> None:
        now = time.time()
        for hour in [h for h, f in self._files.items() if now - f.opened >= self.config.max_file_seconds]:
            self._write(self._files.pop(hour))

    def _write_all(self) -> None:
        for hour in list(self._files):
            self._write(self._files.pop(hour))

    def _write(self, file: _File) -> None:
        if not file.lines:
            return
        try:
            self.store.put(self.bucket, file.key, b"".join(file.lines))
        except Exception as exc:  # the thread edge: a failing destination must not stop capture
            self.dropped["destination_error"] += len(file.lines)
            logger.warning("Capture: could not write %d records to %s (%s)", len(file.lines), file.key, exc)
            return
        self.written += len(file.lines)
        self.files_written += 1

    def _encode(self, event: _Event) -> bytes:
        """One JSON line, keys in SageMaker's order. Base64 needs no JSON escaping, so the image
        bytes are spliced in rather than scanned again by the encoder (the bulk of each record)."""
        metadata: dict[str, Any] = {"eventId": str(uuid.uuid4())}
        if event.inference_id:
            metadata["inferenceId"] = event.inference_id
        metadata["inferenceTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.time))
        return b"".join(
            (
                b'{"captureData":{"endpointInput":',
                self._part(event.content_type, b"INPUT", event.body),
                b',"endpointOutput":',
                self._part(event.output_type, b"OUTPUT", event.output.encode()),
                b'},"eventMetadata":',
                json.dumps(metadata, separators=(",", ":")).encode(),
                b',"eventVersion":"0"}\n',
            )
        )

    def _part(self, content_type: str, mode: bytes, data: bytes) -> bytes:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in self.config.json_content_types:
            encoding, text = b"JSON", json.dumps(data.decode("utf-8", "replace")).encode()
        elif media in self.config.csv_content_types:
            encoding, text = b"CSV", json.dumps(data.decode("utf-8", "replace")).encode()
        else:
            encoding, text = b"BASE64", b'"' + base64.b64encode(data) + b'"'
        return b"".join(
            (
                b'{"observedContentType":', json.dumps(content_type).encode(), b',"mode":"', mode,
                b'","data":', text, b',"encoding":"', encoding, b'"}',
            )
        )  # fmt: skip
