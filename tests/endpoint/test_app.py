"""The HTTP contract on a real uvicorn server: routes, content types, errors, auth, metrics."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from scones.config import Settings
from scones.endpoint.app import App
from scones.endpoint.service import EndpointConfig
from tests.helpers import png_bytes, tiny_artifact

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (128, 128, 128)
NAME = "bike-motorbike-image-classifier"
PNG = {"content-type": "image/png"}


@pytest.fixture
def server(start_server: Callable[..., Any]) -> Iterator[Any]:
    with start_server() as running:
        yield running


@pytest.fixture
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def probabilities(response: httpx.Response) -> list[float]:
    assert response.status_code == 200, response.text
    values = response.json()
    assert isinstance(values, list) and len(values) == 2
    return [float(v) for v in values]


def jpeg_bytes(color: tuple[int, int, int], size: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def assert_error(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == error_type
    assert body["message"] and "Traceback" not in body["message"]
    assert response.headers["x-amzn-errortype"] == error_type


def test_ping_and_both_invocation_routes(client: httpx.Client) -> None:
    ping = client.get("/ping")
    assert ping.status_code == 200
    red = client.post("/invocations", content=png_bytes(RED), headers=PNG)
    assert red.headers["content-type"] == "application/json"
    assert red.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert probabilities(red)[0] > 0.99
    blue = client.post(f"/endpoints/{NAME}/invocations", content=png_bytes(BLUE), headers=PNG)
    assert probabilities(blue)[1] > 0.99
    grey = probabilities(client.post("/invocations", content=png_bytes(GREY), headers=PNG))
    assert abs(grey[0] - 0.5) < 0.05 and abs(sum(grey) - 1) < 1e-5


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/x-image", "IMAGE/PNG; x=1"])
def test_image_content_types(client: httpx.Client, content_type: str) -> None:
    body = jpeg_bytes(RED) if "jpeg" in content_type else png_bytes(RED)
    assert probabilities(client.post("/invocations", content=body, headers={"content-type": content_type}))[0] > 0.9


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA", "1"])
def test_any_mode_and_size_is_converted(client: httpx.Client, mode: str) -> None:
    body = png_bytes(BLUE if mode != "1" else (255, 255, 255), size=100, mode=mode)
    assert len(probabilities(client.post("/invocations", content=body, headers=PNG))) == 2


def test_accept_jsonlines_and_unknown_accept(client: httpx.Client) -> None:
    lines = client.post("/invocations", content=png_bytes(BLUE), headers={**PNG, "accept": "application/jsonlines"})
    assert lines.status_code == 200
    assert lines.headers["content-type"] == "application/jsonlines"
    assert json.loads(lines.text)["prediction"][1] > 0.99
    star = client.post("/invocations", content=png_bytes(BLUE), headers={**PNG, "accept": "*/*"})
    assert star.headers["content-type"] == "application/json"
    assert_error(client.post("/invocations", content=png_bytes(BLUE), headers={**PNG, "accept": "text/csv"}), 406,
                 "ValidationError")  # fmt: skip


def truncated_png() -> bytes:
    data = png_bytes(RED, size=64)
    return data[: len(data) // 2]


def bomb_png(side: int = 20000) -> bytes:
    """A real 20000x20000 1-bit PNG: ~50 KB on the wire, 400 megapixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("body", "headers", "status", "error_type"),
    [
        (b"", PNG, 400, "ValidationError"),
        (b"this is not an image", PNG, 400, "ValidationError"),
        (truncated_png(), PNG, 400, "ValidationError"),
        (bomb_png(), PNG, 400, "ValidationError"),
        (png_bytes(RED), {"content-type": "text/csv"}, 415, "ValidationError"),
        (png_bytes(RED), {}, 415, "ValidationError"),
    ],
    ids=["empty", "not-an-image", "truncated-png", "decompression-bomb", "csv", "no-content-type"],
)
def test_bad_input_gets_its_error_and_the_server_stays_up(
    client: httpx.Client, body: bytes, headers: dict[str, str], status: int, error_type: str
) -> None:
    assert_error(client.post("/invocations", content=body, headers=headers), status, error_type)
    assert client.get("/ping").status_code == 200
    assert probabilities(client.post("/invocations", content=png_bytes(RED), headers=PNG))[0] > 0.99


def test_body_over_6_mb_is_refused_by_length_and_by_stream(server: Any) -> None:
    big = b"\x00" * (6 * 1024 * 1024 + 1)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert_error(client.post("/invocations", content=big, headers=PNG), 413, "ValidationError")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        for _ in range(8):
            yield b"\x00" * (1024 * 1024)

    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert_error(client.post("/invocations", content=chunks(), headers=PNG), 413, "ValidationError")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/ping").status_code == 200


def test_unknown_routes_names_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/nothing-here"), 404, "NotFound")
    assert_error(client.post("/endpoints/some-other-endpoint/invocations", content=png_bytes(RED), headers=PNG),
                 404, "NotFound")  # fmt: skip
    assert_error(client.get("/invocations"), 405, "MethodNotAllowed")


def test_model_failure_is_a_424_model_error(settings: Settings, start_server: Callable[..., Any]) -> None:
    from tests.endpoint.conftest import running

    artifact = tiny_artifact()
    # The manifest promises 16x16 inputs but the graph takes 32x32: ORT refuses at run time.
    pre = artifact.manifest.preprocessing.__class__(image_shape=(3, 16, 16), mean=(0.5,) * 3, std=(0.5,) * 3)
    broken = artifact.__class__(artifact.manifest.__class__(**{**artifact.manifest.__dict__, "preprocessing": pre}),
                                artifact.onnx)  # fmt: skip
    with running(settings, artifact=broken) as srv, httpx.Client(base_url=srv.url) as client:
        assert_error(client.post("/invocations", content=png_bytes(RED), headers=PNG), 424, "ModelError")
        assert client.get("/ping").status_code == 200


def test_unexpected_failure_is_a_500_without_traceback(
    server: Any, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(images: Any) -> Any:
        raise RuntimeError("secret internal detail")

    server.app.slot.service.predictor.predict_images = explode
    response = client.post("/invocations", content=png_bytes(RED), headers=PNG)
    assert_error(response, 500, "InternalFailure")
    assert "secret" not in response.text
    assert "secret internal detail" in caplog.text  # logged with its traceback for the operator
    assert client.get("/ping").status_code == 200


def test_not_ready_is_503() -> None:
    app = App(tiny_artifact(), EndpointConfig(), Settings())  # lifespan never ran: no model loaded

    async def calls() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            return await client.get("/ping"), await client.post("/invocations", content=png_bytes(RED), headers=PNG)

    ping, invocation = asyncio.run(calls())
    assert_error(ping, 503, "ServiceUnavailable")
    assert_error(invocation, 503, "ServiceUnavailable")


def test_token_auth(start_server: Callable[..., Any]) -> None:
    with start_server(auth_token="s3cret-token") as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/ping").status_code == 200  # health checks stay open
        assert_error(client.post("/invocations", content=png_bytes(RED), headers=PNG), 401, "UnauthorizedError")
        wrong = {**PNG, "authorization": "Bearer nope"}
        assert_error(client.post("/invocations", content=png_bytes(RED), headers=wrong), 401, "UnauthorizedError")
        assert_error(client.get("/metrics"), 401, "UnauthorizedError")
        good = {**PNG, "authorization": "Bearer s3cret-token"}
        assert probabilities(client.post("/invocations", content=png_bytes(RED), headers=good))[0] > 0.99


def test_metrics(client: httpx.Client) -> None:
    for _ in range(3):
        client.post("/invocations", content=png_bytes(RED), headers=PNG)
    client.post("/invocations", content=b"junk", headers=PNG)
    text = client.get("/metrics").text
    assert 'scones_endpoint_requests_total{route="invocations",status="200",variant="AllTraffic"} 3.0' in text
    assert 'scones_endpoint_requests_total{route="invocations",status="400",variant="AllTraffic"} 1.0' in text
    assert 'scones_endpoint_invocation_seconds_count{variant="AllTraffic"} 4.0' in text
    assert 'scones_endpoint_batch_size_count{variant="AllTraffic"} 3.0' in text
    assert 'training_job="tiny-test-model"' in text and "model_sha256=" in text


def test_boto3_sagemaker_runtime_client(server: Any) -> None:
    import boto3
    from botocore.exceptions import ClientError

    runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1")
    reply = runtime.invoke_endpoint(EndpointName=NAME, ContentType="image/png", Body=png_bytes(BLUE),
                                    InferenceId="boto-1")  # fmt: skip
    assert reply["ContentType"] == "application/json"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(reply["Body"].read())[1] > 0.99
    with pytest.raises(ClientError) as error:
        runtime.invoke_endpoint(EndpointName=NAME, ContentType="image/png", Body=b"junk")
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_lone_request_never_waits_for_a_batch(start_server: Callable[..., Any]) -> None:
    import time

    with start_server(max_wait_ms=500) as srv, httpx.Client(base_url=srv.url) as client:
        client.post("/invocations", content=png_bytes(RED), headers=PNG)  # warm up
        started = time.perf_counter()
        for _ in range(5):
            assert client.post("/invocations", content=png_bytes(RED), headers=PNG).status_code == 200
        assert (time.perf_counter() - started) / 5 < 0.25  # far below the 500 ms batch wait


def test_concurrent_requests_are_batched(server: Any) -> None:
    bodies = [png_bytes(RED if i % 2 else BLUE) for i in range(64)]

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(*[client.post("/invocations", content=b, headers=PNG) for b in bodies])

    replies = asyncio.run(calls())
    for i, reply in enumerate(replies):  # every answer belongs to its own request
        assert probabilities(reply)[0 if i % 2 else 1] > 0.99
    histogram = server.app.slot.service.metrics.batch_size
    samples = {s.name: s.value for s in histogram.collect()[0].samples if not s.labels.get("le")}
    assert samples["scones_endpoint_batch_size_count"] < 64  # some requests shared a model run
