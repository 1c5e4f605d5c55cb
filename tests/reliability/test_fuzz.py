"""Fuzz a real endpoint process: hostile images, headers, paths and methods.

The server is `tests/reliability/server.py` (the scones App on uvicorn, 127.0.0.1, capture at
100%, token auth on). Every answer must be 200 or one of the declared errors with its JSON
body (docs/endpoint.md, reference section 3); a 500 InternalFailure means an exception
escaped the handlers and is a failure here. After the examples: the server still answers
/ping, its log has no traceback, every captured line is valid SageMaker JSON, and its memory
has not grown with the requests.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.reliability import payloads
from tests.reliability.server import ServerProcess

# Hypothesis warns when the global `random` state moves while it draws an example; here that is
# other threads of the test process (capture sampling, Step Functions retry jitter of an earlier
# test's executions), not the strategies, which use no `random`.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
TOKEN = "fuzz-secret-token-5b1e"
DECLARED = {  # status -> the error types it may carry
    400: {"ValidationError"},
    401: {"UnauthorizedError"},
    404: {"NotFound"},
    405: {"MethodNotAllowed"},
    406: {"ValidationError"},
    413: {"ValidationError"},
    415: {"ValidationError"},
    424: {"ModelError"},
}
NAME = "bike-motorbike-image-classifier"
SEEN: Counter[str] = Counter()  # status counts across the module, for docs/reliability.md


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    process = ServerProcess(root / "home", TOKEN, root / "server.log")
    try:
        yield process
    finally:
        process.stop()
        print(f"fuzz statuses: {dict(sorted(SEEN.items()))}")


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def check(reply: httpx.Response) -> None:
    """200 with probabilities, or a declared error with its JSON body and x-amzn-ErrorType."""
    SEEN[str(reply.status_code)] += 1
    if reply.status_code == 200:
        if reply.request.method == "POST":
            body = reply.json()
            prediction = body["prediction"] if isinstance(body, dict) else body
            assert len(prediction) == 2 and abs(sum(prediction) - 1) < 1e-4
        return
    assert reply.status_code in DECLARED, f"undeclared {reply.status_code}: {reply.text[:300]}"
    if reply.request.method == "HEAD":
        return
    error = reply.json()
    assert error["type"] in DECLARED[reply.status_code], error
    assert reply.headers["x-amzn-errortype"] == error["type"]
    assert error["message"] and "Traceback" not in error["message"]


def invoke(client: httpx.Client, body: bytes, headers: dict[str, str], path: str = "/invocations") -> None:
    check(client.post(path, content=body, headers=headers))


AUTH = {"authorization": f"Bearer {TOKEN}"}
SIGV4 = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
SLOW = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck), database=None)

IMAGE_CASES = {
    "body": payloads.bodies,
    "content_type": st.sampled_from(("image/png", "image/jpeg", "application/x-image")),
}
HEADER_CASES = {
    "body": st.one_of(payloads.real_images, payloads.bodies),
    "content_type": payloads.content_types,
    "accept": payloads.accepts,
    "inference_id": st.one_of(st.none(), payloads.header_text),
    "attributes": st.one_of(st.none(), payloads.header_text),
    "auth": st.one_of(st.just(AUTH["authorization"]), st.none(), payloads.header_text,
                      st.sampled_from(("Bearer", f"bearer {TOKEN}", f"Bearer  {TOKEN}", TOKEN, f"Bearer {TOKEN}x",
                                       SIGV4))),
    "path": st.sampled_from(("/invocations", f"/endpoints/{NAME}/invocations", "/endpoints/other/invocations",
                             "/endpoints//invocations", "/endpoints/../invocations", "/invocations/", "/metrics",
                             "/ping", "/", "/%00", "/endpoints/" + "a" * 300 + "/invocations")),
    "method": st.sampled_from(("POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")),
}  # fmt: skip


def image_case(client: httpx.Client, body: bytes, content_type: str) -> None:
    invoke(client, body, {**AUTH, "content-type": content_type})
    assert client.get("/ping").status_code == 200


def header_case(
    client: httpx.Client,
    body: bytes,
    content_type: str,
    accept: str | None,
    inference_id: str | None,
    attributes: str | None,
    auth: str | None,
    path: str,
    method: str,
) -> None:
    headers = {"content-type": content_type}
    for name, value in (("accept", accept), ("x-amzn-sagemaker-inference-id", inference_id),
                        ("x-amzn-sagemaker-custom-attributes", attributes), ("authorization", auth)):  # fmt: skip
        if value is not None:
            headers[name] = value
    check(client.request(method, path, content=body, headers=headers))


test_images_real_mutated_and_forged = FAST(given(**IMAGE_CASES)(image_case))
test_random_headers_paths_and_methods = FAST(given(**HEADER_CASES)(header_case))
test_images_long = pytest.mark.slow(SLOW(given(**IMAGE_CASES)(image_case)))
test_headers_long = pytest.mark.slow(SLOW(given(**HEADER_CASES)(header_case)))


def test_body_limits_and_lying_content_length(server: ServerProcess, client: httpx.Client) -> None:
    png = payloads.encode("PNG", "RGB", 32, 32, 1)
    invoke(client, b"\0" * (6 * 1024 * 1024 + 1), {**AUTH, "content-type": "image/png"})
    for declared in ("abc", "-1", "99999999999999999999", str(len(png) - 10)):
        raw = _raw(server, f"POST /invocations HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n"
                           f"content-type: image/png\r\ncontent-length: {declared}\r\n\r\n".encode() + png)  # fmt: skip
        assert raw[:12] in (b"HTTP/1.1 200", b"HTTP/1.1 400", b"HTTP/1.1 413"), raw[:200]
    assert client.get("/ping").status_code == 200


def _raw(server: ServerProcess, request: bytes) -> bytes:
    """Send bytes as they are (httpx would fix a lying Content-Length) and read what comes back."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _mixed_requests(count: int, seed: int) -> Iterator[tuple[bytes, dict[str, str]]]:
    """A deterministic mix of good and bad requests (no hypothesis: the memory test needs volume)."""
    rng = random.Random(seed)
    good = [payloads.encode(f, m, rng.randint(8, 64), rng.randint(8, 64), i)
            for i, (f, m) in enumerate([("PNG", "RGB"), ("JPEG", "L"), ("PNG", "RGBA"), ("GIF", "P")] * 5)]  # fmt: skip
    for i in range(count):
        body = rng.choice(good)
        kind = i % 5
        if kind == 1:
            body = body[: rng.randint(0, len(body))]
        elif kind == 2:
            data = bytearray(body)
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            body = bytes(data)
        elif kind == 3:
            body = payloads.huge_header(rng.choice(("png", "gif", "bmp", "jpeg", "tiff")), 100_000, 70_000)
        headers = {**AUTH, "content-type": "image/png", "x-amzn-sagemaker-inference-id": f"mem-{i}"}
        if i % 7 == 0:
            headers["authorization"] = "Bearer wrong"
        yield body, headers


def _rss_after(server: ServerProcess, client: httpx.Client, count: int, seed: int) -> int:
    for body, headers in _mixed_requests(count, seed):
        invoke(client, body, headers)
    client.get("/ping")
    return server.rss_kib()


def test_memory_bounded_over_thousands_of_requests(server: ServerProcess, client: httpx.Client) -> None:
    warm = _rss_after(server, client, 500, 0)  # allocator pools, ONNX arenas and capture buffers fill first
    after = _rss_after(server, client, 2500, 1)
    growth_mib = (after - warm) / 1024
    SEEN["rss_warm_mib"], SEEN["rss_after_mib"] = warm // 1024, after // 1024
    assert growth_mib < 25, f"server RSS grew {growth_mib:.1f} MiB over 2500 requests ({warm} -> {after} KiB)"


def test_server_survived_and_capture_is_valid(server: ServerProcess, client: httpx.Client) -> None:
    """Runs last in this module: the process lived through everything and wrote sane capture.

    Nothing lost: every invocation the server answered 200 (its own counter, so whatever ran
    before, raw-socket requests included) is exactly one captured record, none dropped.
    """
    for body, headers in itertools.islice(_mixed_requests(50, 2), 50):  # never a vacuous count
        invoke(client, body, headers)
    assert client.get("/ping").status_code == 200
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'route="invocations",status="500"' not in metrics
    accepted = _counter(metrics, "scones_endpoint_requests_total", route="invocations", status="200")
    assert accepted >= 10 and _counter(metrics, "scones_capture_records_dropped_total") == 0
    assert server.stop() in (0, -15)  # SIGTERM: uvicorn re-raises the signal after a clean shutdown
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "Unexpected failure" not in log, log[-3000:]
    records = 0
    for path in (server.home / "buckets").rglob("*.jsonl"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        for line in path.read_text().splitlines():
            record: dict[str, Any] = json.loads(line)
            assert record["eventVersion"] == "0" and record["captureData"]["endpointInput"]["encoding"]
            assert TOKEN not in line  # the token is never captured
            records += 1
    assert records == accepted  # GET /ping and /metrics 200s are not invocations and are not captured
    SEEN["captured_records"] = records


def _counter(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
