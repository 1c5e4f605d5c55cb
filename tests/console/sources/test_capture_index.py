"""The captured-data index: incremental, exact offsets, tolerant of bad lines, on disk or S3."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from scones.config import Settings
from scones.console.sources import captured
from scones.console.sources.capture_index import CaptureIndex, parse_record
from scones.storage import Store
from tests.helpers import png_bytes

PREFIX = "data_capture/my-endpoint/AllTraffic/2026/01/02"


def line(p_bicycle: float, second: int, image: bytes = b"", encoding: str = "JSON") -> bytes:
    output = json.dumps([p_bicycle, 1 - p_bicycle])
    if encoding == "BASE64":
        output = base64.b64encode(output.encode()).decode()
    record = {
        "captureData": {
            "endpointInput": {"observedContentType": "image/png", "mode": "INPUT",
                              "data": base64.b64encode(image or png_bytes()).decode(), "encoding": "BASE64"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": output,
                               "encoding": encoding},
        },
        "eventMetadata": {"eventId": str(uuid.uuid4()),
                          "inferenceTime": f"2026-01-02T10:{second // 60:02d}:{second % 60:02d}Z"},
        "eventVersion": "0",
    }  # fmt: skip
    return json.dumps(record).encode() + b"\n"


def test_records_are_indexed_once_with_prediction_and_confidence(settings: Settings, store: Store) -> None:
    image = png_bytes((1, 2, 250))
    store.put(settings.bucket, f"{PREFIX}/10/00-00-000-a.jsonl", line(0.97, 1) + line(0.2, 2, image) + line(0.5, 3))
    index = CaptureIndex(settings, store)
    assert index.refresh(wait=True) == 3
    assert index.refresh(wait=True) == 0  # nothing new: nothing read twice
    rows = captured.page(index, captured.Filters(), 0.93, 10, 0)
    assert [(r["predicted"], round(r["confidence"], 2)) for r in rows] == [(0, 0.5), (1, 0.8), (0, 0.97)]
    assert rows[0]["endpoint"] == "my-endpoint"
    assert captured.image(index, rows[1]["id"]) == (image, "image/png")  # read back by offset, byte for byte
    assert captured.count(index, captured.Filters(low_confidence=True), 0.93) == 2
    assert captured.count(index, captured.Filters(predicted=1), 0.93) == 1
    assert captured.count(index, captured.Filters(since="2026-01-02T10:00:02"), 0.93) == 2
    assert captured.count(index, captured.Filters(until="2026-01-02T10:00:02"), 0.93) == 1
    assert captured.count(index, captured.Filters(endpoint="other"), 0.93) == 0
    assert captured.summary(index, 0.93) == {"total": 3, "low_confidence": 2, "latest": "2026-01-02T10:00:03Z"}


def test_a_growing_file_is_read_from_where_it_stopped(settings: Settings, store: Store) -> None:
    key = f"{PREFIX}/11/00-00-000-b.jsonl"
    first = line(0.99, 1)
    partial = line(0.1, 2)
    store.put(settings.bucket, key, first + partial[:40])  # a line still being written
    index = CaptureIndex(settings, store, list_every_s=0.0)  # list the store on every refresh
    assert index.refresh(wait=True) == 1
    store.put(settings.bucket, key, first + partial + line(0.3, 3))
    assert index.refresh(wait=True) == 2
    assert captured.count(index, captured.Filters(), 0.93) == 3


def test_bad_lines_are_counted_not_fatal(settings: Settings, store: Store) -> None:
    body = line(0.99, 1) + b"{not json\n" + b'{"other": 1}\n' + line(0.6, 2, encoding="BASE64") + b"\n"
    store.put(settings.bucket, f"{PREFIX}/12/00-00-000-c.jsonl", body)
    store.put(settings.bucket, f"{PREFIX}/12/notes.txt", b"not captured data")
    index = CaptureIndex(settings, store)
    assert index.refresh(wait=True) == 2
    assert index.bad_lines == 2
    confidences = sorted(r["confidence"] for r in captured.page(index, captured.Filters(), 0.93, 10, 0))
    assert confidences == pytest.approx([0.6, 0.99])


def test_a_time_budget_bounds_each_refresh(settings: Settings, store: Store) -> None:
    store.put(settings.bucket, f"{PREFIX}/13/00-00-000-d.jsonl", b"".join(line(0.9, i % 3600) for i in range(1200)))
    index = CaptureIndex(settings, store)
    first = index.refresh(budget_s=0.0)
    assert 0 < first < 1200 and index.pending_files() == 1
    total = first
    while index.pending_files():
        total += index.refresh(budget_s=0.0)
    assert total == captured.count(index, captured.Filters(), 0.93) == 1200


def test_sagemaker_style_outputs_parse(settings: Settings) -> None:
    jsonlines = json.loads(line(0.9, 1))
    jsonlines["captureData"]["endpointOutput"]["data"] = '{"prediction": [0.25, 0.75]}'
    assert parse_record(json.dumps(jsonlines).encode()).probabilities == [0.25, 0.75]
    csv = json.loads(line(0.9, 1))
    csv["captureData"]["endpointOutput"].update(data="0.4,0.6", encoding="CSV")
    assert parse_record(json.dumps(csv).encode()).probabilities == [0.4, 0.6]
    with pytest.raises(ValueError, match="not a capture record"):
        parse_record(b'{"eventVersion": "0"}')


def test_capture_on_s3_is_indexed_the_same_way(s3_settings: Settings, s3_store: Store) -> None:
    image = png_bytes((9, 9, 9))
    s3_store.put(s3_settings.bucket, f"{PREFIX}/10/00-00-000-e.jsonl", line(0.3, 1, image) + line(0.95, 2))
    index = CaptureIndex(s3_settings, s3_store)
    assert index.refresh(wait=True) == 2
    newest, oldest = captured.page(index, captured.Filters(), 0.93, 10, 0)
    assert captured.image(index, oldest["id"]) == (image, "image/png")
