"""Reading captured data: SageMaker's data-capture JSONL, from scones or from a real endpoint.

A capture location is a folder or an `s3://bucket/prefix`. Files are found wherever they sit
under it: in SageMaker's layout `{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl`
(reference section 4) or simply all in one folder (for example downloaded with
`aws s3 cp --recursive`). Records stream one at a time, so memory stays flat whatever the
volume. Reading is tolerant, as a monitor must be: `inferenceId` is optional, unknown fields
are ignored, and a corrupt line or an unreadable file is counted in `ReadReport` (with a few
examples) and skipped, never fatal.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from scones.errors import MonitorError, StorageError
from scones.keys import parse_s3_uri, validate_bucket
from scones.storage import Store

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = "AllTraffic"
SUFFIXES = (".jsonl", ".json", ".jsonl.txt")  # what SageMaker writes, plus what downloads get renamed to
MAX_EXAMPLES = 20  # problems kept verbatim in the report; the rest are only counted
_HOUR_PATH = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


@dataclass(frozen=True, slots=True)
class CapturedRecord:
    """One captured inference: what came in, what went out, and when.

    `input` is the request body (decoded from BASE64) or None when requests were not
    captured or the data is unreadable (`input_problem` says which). `output` is the
    probability vector, or None with `output_problem` set when the response was not one
    (an error body, or responses not captured).
    """

    event_id: str | None
    inference_id: str | None
    time: float | None  # seconds since the epoch (UTC)
    input: bytes | None
    input_content_type: str | None
    output: tuple[float, ...] | None
    input_problem: str | None
    output_problem: str | None
    source: str  # "key:line", for messages

    @property
    def key(self) -> str | None:
        """The id ground-truth labels are matched on: inferenceId when sent, else eventId."""
        return self.inference_id or self.event_id


@dataclass
class ReadReport:
    """What reading found: counts of files, lines and problems, and the first few problems."""

    files: int = 0
    skipped_files: int = 0  # not captured-data files (other suffixes), or outside the window
    corrupt_files: int = 0
    lines: int = 0
    records: int = 0
    corrupt_lines: int = 0
    outside_window: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_EXAMPLES:
            self.problems.append(message)
        logger.debug(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "skipped_files": self.skipped_files,
            "corrupt_files": self.corrupt_files,
            "lines": self.lines,
            "records": self.records,
            "corrupt_lines": self.corrupt_lines,
            "outside_window": self.outside_window,
            "problems": list(self.problems),
        }


def capture_prefix(destination: str, endpoint: str | None, variant: str | None = DEFAULT_VARIANT) -> str:
    """The location holding one endpoint's captured files under a capture destination."""
    parts = [destination.rstrip("/")] + [p for p in (endpoint, variant) if p]
    return "/".join(parts)


@dataclass(frozen=True)
class CaptureFile:
    """One file under a capture location: its name (relative to the location) and size."""

    name: str
    size: int


def iter_records(
    store: Store,
    location: str,
    since: datetime | None = None,
    until: datetime | None = None,
    report: ReadReport | None = None,
    files: list[CaptureFile] | None = None,
) -> Iterator[CapturedRecord]:
    """Every captured record under `location` (s3:// prefix or folder) with since <= time < until.

    `files` restricts reading to some of the location's files (default: all). Files in hour
    folders wholly outside the window are not opened. Problems are counted in `report`; only
    an unreadable or missing location raises MonitorError.
    """
    report = report if report is not None else ReadReport()
    lo = since.timestamp() if since else -math.inf
    hi = until.timestamp() if until else math.inf
    for file in list_files(store, location) if files is None else files:
        if not wanted(file.name or location.rstrip("/"), lo, hi):  # "": the location is the file
            report.skipped_files += 1
            continue
        report.files += 1
        yield from _read_file(store, location, file.name, (lo, hi), report)


def wanted(name: str, lo: float = -math.inf, hi: float = math.inf) -> bool:
    """A captured-data file that may hold records between lo and hi (epoch seconds)."""
    if not name.endswith(SUFFIXES):
        return False
    hour = hour_of(name)
    return hour is None or (hour + 3600 > lo and hour < hi)


def hour_of(key: str) -> float | None:
    """The start of the hour a SageMaker-layout key was written in (epoch seconds), else None."""
    match = _HOUR_PATH.search(key)
    if not match:
        return None
    try:
        return datetime.fromisoformat("{}-{}-{}T{}:00:00+00:00".format(*match.groups())).timestamp()
    except ValueError:
        return None


def list_files(store: Store, location: str) -> list[CaptureFile]:
    """Every file under location, sorted by name (time order in SageMaker's layout)."""
    if location.startswith("s3://"):
        bucket, prefix = parse_s3_uri(location)
        try:
            objects = list(store.list(bucket, prefix))
        except StorageError as exc:
            raise MonitorError(f"Cannot list captured data at {location} ({exc}); check the location") from exc
        strip = len(prefix) + 1 if prefix else 0
        return [CaptureFile("" if o.key == prefix else o.key[strip:], o.size) for o in objects]
    root = Path(location).expanduser()
    if root.is_file():
        return [CaptureFile("", root.stat().st_size)]
    if not root.is_dir():
        raise MonitorError(f"No captured data at {location}; give a folder or an s3:// prefix of .jsonl files")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    return [CaptureFile(p.relative_to(root).as_posix(), p.stat().st_size) for p in paths]


def open_file(store: Store, location: str, name: str) -> IO[bytes]:
    """Open one file of `list_files(store, location)` for reading."""
    if location.startswith("s3://"):
        bucket, prefix = parse_s3_uri(location)
        key = "/".join(p for p in (prefix, name) if p)  # name "": the location is one object
        return store.open(bucket, key, "rb")
    root = Path(location).expanduser()
    return (root / name if name else root).open("rb")


def _read_file(
    store: Store, location: str, name: str, window: tuple[float, float], report: ReadReport
) -> Iterator[CapturedRecord]:
    lo, hi = window
    good = bad = 0
    try:
        with open_file(store, location, name) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                report.lines += 1
                source = f"{name or Path(location).name}:{number}"
                try:
                    record = parse_record(line, source)
                except ValueError as exc:
                    bad += 1
                    report.corrupt_lines += 1
                    report.problem(f"{source}: {exc}")
                    continue
                good += 1
                if record.time is not None and not lo <= record.time < hi:
                    report.outside_window += 1
                    continue
                if record.time is None and (lo > -math.inf or hi < math.inf):
                    report.outside_window += 1  # no time: cannot be placed in a window
                    continue
                report.records += 1
                yield record
    except (OSError, StorageError) as exc:  # unreadable file (or it vanished): count it, go on
        report.corrupt_files += 1
        report.problem(f"{name}: unreadable ({exc})")
        return
    if bad and not good:
        report.corrupt_files += 1


def parse_record(line: bytes | str, source: str = "record") -> CapturedRecord:
    """One JSONL line -> CapturedRecord; ValueError (with the reason) when it is not a capture record."""
    try:
        body = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(body, dict) or not isinstance(body.get("captureData"), dict):
        raise ValueError("no captureData object")
    capture = body["captureData"]
    raw_meta = body.get("eventMetadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    entry_in = capture.get("endpointInput")
    entry_out = capture.get("endpointOutput")
    if not isinstance(entry_in, dict) and not isinstance(entry_out, dict):
        raise ValueError("captureData has neither endpointInput nor endpointOutput")
    data_in, input_problem = _input(entry_in)
    output, output_problem = _output(entry_out)
    return CapturedRecord(
        event_id=_str(meta.get("eventId")),
        inference_id=_str(meta.get("inferenceId")),
        time=_time(meta.get("inferenceTime")),
        input=data_in,
        input_content_type=_str(entry_in.get("observedContentType")) if isinstance(entry_in, dict) else None,
        output=output,
        input_problem=input_problem,
        output_problem=output_problem,
        source=source,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _payload(entry: dict[str, Any]) -> bytes:
    data = entry.get("data")
    if not isinstance(data, str):
        raise ValueError("no data")
    if str(entry.get("encoding", "")).upper() == "BASE64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data is not valid BASE64") from None
    return data.encode("utf-8")  # JSON and CSV payloads are stored as text


def _input(entry: Any) -> tuple[bytes | None, str | None]:
    if not isinstance(entry, dict):
        return None, "request not captured"
    try:
        return _payload(entry), None
    except ValueError as exc:
        return None, f"request {exc}"


def _output(entry: Any) -> tuple[tuple[float, ...] | None, str | None]:
    if not isinstance(entry, dict):
        return None, "response not captured"
    try:
        payload = _payload(entry)
        if str(entry.get("encoding", "")).upper() == "CSV":
            value: Any = [float(v) for v in payload.decode("utf-8").strip().split(",")]
        else:
            value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"response {exc}"
    probabilities = _probabilities(value)
    if probabilities is None:
        return None, f"response is not a probability list: {payload[:120].decode('utf-8', 'replace')}"
    return probabilities, None


def _probabilities(value: Any) -> tuple[float, ...] | None:
    """A probability vector from the shapes an image classifier answers with, else None."""
    if isinstance(value, dict) and "prediction" in value:  # accept: application/jsonlines
        value = value["prediction"]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):  # a batch of one
        value = value[0]
    if not isinstance(value, list) or len(value) < 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    floats = tuple(float(v) for v in value)
    if not all(math.isfinite(v) and -1e-6 <= v <= 1 + 1e-6 for v in floats) or abs(sum(floats) - 1.0) > 1e-2:
        return None
    return floats


def default_destination(bucket: str) -> str:
    """The capture destination scones' endpoints use unless configured otherwise."""
    return f"s3://{validate_bucket(bucket)}/data_capture"
