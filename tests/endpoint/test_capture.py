"""Data capture: SageMaker's record schema and key layout, sampling, rolling, failure, flush."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scones.endpoint.capture import CaptureConfig, CaptureWriter
from scones.errors import ConfigError
from scones.storage import Store
from tests.helpers import png_bytes

NAME = "bike-motorbike-image-classifier"
KEY = re.compile(
    rf"^data_capture/{NAME}/AllTraffic/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/\d{{2}}-\d{{2}}-\d{{3}}-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)


def records(store: Store, prefix: str = "data_capture") -> list[tuple[str, dict[str, Any]]]:
    bucket = store.settings.bucket
    found = []
    for info in store.list(bucket, prefix):
        for line in store.get(bucket, info.key).decode().splitlines():
            found.append((info.key, json.loads(line)))
    return found


def check_record(record: dict[str, Any], body: bytes, inference_id: str | None = None) -> None:
    """Exactly the schema of reference section 4."""
    assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
    assert record["eventVersion"] == "0"
    data = record["captureData"]
    assert set(data) == {"endpointInput", "endpointOutput"}
    assert data["endpointInput"] == {
        "observedContentType": "image/png",
        "mode": "INPUT",
        "data": base64.b64encode(body).decode(),
        "encoding": "BASE64",
    }
    output = data["endpointOutput"]
    assert set(output) == {"observedContentType", "mode", "data", "encoding"}
    assert (output["observedContentType"], output["mode"], output["encoding"]) == ("application/json", "OUTPUT", "JSON")
    assert len(json.loads(output["data"])) == 2
    metadata = record["eventMetadata"]
    assert uuid.UUID(metadata["eventId"]).version == 4
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", metadata["inferenceTime"])
    if inference_id is None:
        assert set(metadata) == {"eventId", "inferenceTime"}
    else:
        assert metadata["inferenceId"] == inference_id


def offer(writer: CaptureWriter, body: bytes, inference_id: str | None = None) -> bool:
    return bool(writer.offer(body, "image/png", "[0.9, 0.1]", "application/json", inference_id))


def test_records_and_keys_follow_sagemaker(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100), NAME)
    bodies = [png_bytes((i, 0, 0)) for i in range(5)]
    for i, body in enumerate(bodies):
        assert offer(writer, body, f"id-{i}" if i % 2 else None)
    writer.close()
    found = records(store)
    assert len(found) == 5 and writer.written == 5 and writer.accepted == 5
    for i, (key, record) in enumerate(found):
        assert KEY.match(key), key
        check_record(record, bodies[i], f"id-{i}" if i % 2 else None)
        hour = time.strftime(
            "%Y/%m/%d/%H", time.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
        )
        assert f"/AllTraffic/{hour}/" in key  # the file sits under the hour of invocation


def test_json_and_csv_bodies_keep_their_encoding(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100), NAME)
    writer.offer(b'{"a": 1}', "application/json", "1,2", "text/csv")
    writer.close()
    (_, record), = records(store)  # fmt: skip
    assert record["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert record["captureData"]["endpointInput"]["data"] == '{"a": 1}'
    assert record["captureData"]["endpointOutput"]["encoding"] == "CSV"


def test_sampling_percentage_is_honoured(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=30), NAME)
    sampled = sum(writer.sampled() for _ in range(4000))
    assert 0.25 < sampled / 4000 < 0.35
    assert not any(CaptureWriter(store, CaptureConfig(percent=0), NAME).sampled() for _ in range(100))
    writer.close()


def test_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="0 to 100"):
        CaptureConfig(percent=120)
    with pytest.raises(ConfigError, match="s3://"):
        CaptureConfig(percent=10, destination="/tmp/capture")


def test_files_roll_by_size_and_by_time(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100, max_file_bytes=2000, max_file_seconds=0.3), NAME)
    for _ in range(6):
        offer(writer, png_bytes(size=32))  # each record is ~400 bytes once encoded
    deadline = time.monotonic() + 5
    while writer.written < 6 and time.monotonic() < deadline:  # no flush: the age limit writes them
        time.sleep(0.05)
    assert writer.written == 6
    assert writer.files_written >= 2  # the size limit split them
    assert len(list(store.list(store.settings.bucket, "data_capture"))) == writer.files_written
    writer.close()


def test_full_queue_drops_and_counts_without_blocking(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100, max_queue_bytes=100), NAME)
    started = time.perf_counter()
    assert not offer(writer, b"x" * 500)
    assert time.perf_counter() - started < 0.05
    assert writer.dropped["queue_full"] == 1 and writer.accepted == 0
    writer.close()


def test_failing_destination_counts_drops_and_recovers(store: Store) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100, destination="s3://capture-bucket/cap"), NAME)
    blocker = store.settings.buckets_dir / "capture-bucket"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the bucket folder should be")  # every write now fails
    for _ in range(3):
        assert offer(writer, png_bytes())
    writer.flush()
    assert writer.dropped["destination_error"] == 3 and writer.written == 0
    blocker.unlink()  # the destination comes back
    for _ in range(2):
        assert offer(writer, png_bytes())
    writer.close()
    assert writer.written == 2
    assert len(records(store, "")) == 0  # nothing in the default bucket ...
    keys = [o.key for o in store.list("capture-bucket", "cap")]
    assert len(keys) == 1 and keys[0].startswith(f"cap/{NAME}/AllTraffic/")


def test_capture_to_s3(s3_store: Store) -> None:
    writer = CaptureWriter(s3_store, CaptureConfig(percent=100), NAME)
    body = png_bytes((10, 20, 30))
    offer(writer, body, "s3-id")
    writer.close()
    (key, record), = records(s3_store)  # fmt: skip
    assert KEY.match(key)
    check_record(record, body, "s3-id")


def test_server_captures_every_request_with_its_inference_id(start_server: Callable[..., Any], store: Store) -> None:
    bodies = [png_bytes((0, i * 20, 200)) for i in range(10)]
    with start_server(capture_percent=100) as srv, httpx.Client(base_url=srv.url) as client:
        for i, body in enumerate(bodies):
            headers = {"content-type": "image/png", "x-amzn-sagemaker-inference-id": f"req-{i}"}
            assert client.post("/invocations", content=body, headers=headers).status_code == 200
        client.post("/invocations", content=b"junk", headers={"content-type": "image/png"})  # errors: not captured
        metrics = client.get("/metrics").text
        assert 'scones_capture_records_accepted_total{variant="AllTraffic"} 10.0' in metrics
    # Leaving the block shut the server down: capture was flushed without an explicit flush.
    found = records(store)
    assert len(found) == 10
    for i, (key, record) in enumerate(found):
        assert KEY.match(key)
        check_record(record, bodies[i], f"req-{i}")
        assert json.loads(record["captureData"]["endpointOutput"]["data"])[1] > 0.9


def test_server_sampling_and_s3_destination(start_server: Callable[..., Any], s3_store: Store) -> None:
    from tests.endpoint.conftest import running

    with running(s3_store.settings, capture_percent=50) as srv, httpx.Client(base_url=srv.url) as client:
        for _ in range(200):
            client.post("/invocations", content=png_bytes(), headers={"content-type": "image/png"})
        accepted = srv.capture.accepted
    assert 60 < accepted < 140
    assert len(records(s3_store)) == accepted


def test_server_keeps_serving_while_the_destination_fails(start_server: Callable[..., Any], store: Store) -> None:
    blocker = store.settings.buckets_dir / "broken-bucket"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    with start_server(capture_percent=100, capture_destination="s3://broken-bucket/capture") as srv:
        with httpx.Client(base_url=srv.url) as client:
            for _ in range(5):
                assert (
                    client.post("/invocations", content=png_bytes(), headers={"content-type": "image/png"}).status_code
                    == 200
                )
            srv.capture.flush()
            metrics = client.get("/metrics").text
    assert 'scones_capture_records_dropped_total{reason="destination_error",variant="AllTraffic"} 5.0' in metrics
    assert 'scones_capture_records_written_total{variant="AllTraffic"} 0.0' in metrics


def test_observed_content_type_is_verbatim(start_server: Callable[..., Any], store: Store) -> None:
    with start_server(capture_percent=100) as srv, httpx.Client(base_url=srv.url) as client:
        headers = {"content-type": "Image/PNG; source=camera-7", "accept": "application/jsonlines"}
        assert client.post("/invocations", content=png_bytes(), headers=headers).status_code == 200
    (_, record), = records(store)  # fmt: skip
    captured = record["captureData"]
    assert captured["endpointInput"]["observedContentType"] == "Image/PNG; source=camera-7"
    assert captured["endpointInput"]["encoding"] == "BASE64"
    # JSON lines is not one of the JSON content types, so SageMaker would store it base64-encoded.
    assert captured["endpointOutput"]["observedContentType"] == "application/jsonlines"
    assert captured["endpointOutput"]["encoding"] == "BASE64"
    assert "prediction" in json.loads(base64.b64decode(captured["endpointOutput"]["data"]))


def test_records_go_to_the_file_of_their_hour(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import calendar

    import scones.endpoint.capture as capture

    class Clock:
        """time as the capture module sees it, with a settable now (the rest is the real module)."""

        now = calendar.timegm((2026, 3, 12, 10, 59, 59)) + 0.9

        def time(self) -> float:
            return self.now

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    clock = Clock()
    monkeypatch.setattr(capture, "time", clock)
    writer = CaptureWriter(store, CaptureConfig(percent=100, max_file_seconds=3600), NAME)
    offer(writer, png_bytes())
    clock.now += 0.2  # 11:00:00.100, the next hour
    offer(writer, png_bytes())
    writer.close()
    keys = [key for key, _ in records(store)]
    assert len(keys) == 2
    assert keys[0].startswith(f"data_capture/{NAME}/AllTraffic/2026/03/12/10/59-59-900-")
    assert keys[1].startswith(f"data_capture/{NAME}/AllTraffic/2026/03/12/11/00-00-100-")
