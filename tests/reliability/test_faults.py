"""Faults while serving and running: the capture destination fills or disappears, the endpoint
dies under STANDARD executions, the object store goes away. Real parts throughout: a tmpfs of
a few KB as a full disk, moto's S3 server over HTTP, endpoint processes killed with SIGKILL.

SIGTERM during training (best model kept, job Stopped) is covered by stage 2a's
tests/cli/test_model.py::test_sigterm_stops_the_job_and_keeps_the_best_model (slow, a real
`scones train` process) and tests/model/test_train.py::test_interrupt_mid_training_stops_and_keeps_best_so_far.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings, load_settings
from scones.storage import Store
from scones.workflow import machines, records, testcases
from tests.endpoint.conftest import running
from tests.functions.support import put_images, register
from tests.reliability.server import ServerProcess


def noisy_png(seed: int) -> bytes:
    """32x32 random pixels: ~3 KB of PNG, ~4 KB once base64-captured (fills a small disk fast)."""
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def send(client: httpx.Client, count: int, seed: int = 0) -> None:
    for i in range(count):
        reply = client.post("/invocations", content=noisy_png(seed + i), headers={"content-type": "image/png"})
        assert reply.status_code == 200, reply.text  # capture trouble never reaches a caller


def dropped(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('scones_capture_records_dropped_total{reason="destination_error",variant='):
            return float(line.split()[-1])
    raise AssertionError("no drop counter in /metrics")


@pytest.fixture
def small_disk(settings: Settings) -> Iterator[Path]:
    """A 96 KB tmpfs mounted as the bucket 'full-bucket' (needs root; skipped otherwise)."""
    folder = settings.buckets_dir / "full-bucket"
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        # Only an unprivileged run may lack the mount; as root (CI) a failed mount is a failure.
        if os.geteuid() == 0:
            pytest.fail(f"mounting a tmpfs as root failed: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs without root ({mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_capture_destination_fills_then_recovers(settings: Settings, small_disk: Path) -> None:
    with running(settings, capture_percent=100, capture_destination="s3://full-bucket/cap") as srv:
        with httpx.Client(base_url=srv.url) as client:
            send(client, 15)  # ~60 KB: fits
            srv.capture.flush()
            assert srv.capture.written == 15 and dropped(client) == 0
            send(client, 15, seed=100)  # does not fit: ENOSPC
            srv.capture.flush()
            assert dropped(client) == 15 and srv.capture.written == 15
            assert not list(small_disk.rglob(".scones-tmp-*"))  # the failed write left no partial file
            assert client.get("/ping").status_code == 200
            subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)  # space again
            send(client, 15, seed=200)
            srv.capture.flush()
            assert srv.capture.written == 30 and dropped(client) == 15
    lines = sum(len(p.read_bytes().splitlines()) for p in small_disk.rglob("*.jsonl"))
    assert lines == 30


def test_capture_destination_replaced_by_a_file_then_back(settings: Settings) -> None:
    bucket = settings.buckets_dir / "gone-bucket"
    with running(settings, capture_percent=100, capture_destination="s3://gone-bucket/cap") as srv:
        with httpx.Client(base_url=srv.url) as client:
            send(client, 5)
            srv.capture.flush()
            assert srv.capture.written == 5
            import shutil

            shutil.rmtree(bucket)
            bucket.write_text("something else took its place")  # the folder disappears for good
            send(client, 5, seed=10)
            srv.capture.flush()
            assert dropped(client) == 5
            bucket.unlink()  # and comes back
            send(client, 5, seed=20)
            srv.capture.flush()
            assert srv.capture.written == 10 and dropped(client) == 5


def test_s3_capture_bucket_deleted_then_recreated(s3_settings: Settings, moto_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="capture-gone")
    with running(s3_settings, capture_percent=100, capture_destination="s3://capture-gone/cap") as srv:
        with httpx.Client(base_url=srv.url) as client:
            send(client, 5)
            srv.capture.flush()
            assert srv.capture.written == 5
            for item in s3.list_objects_v2(Bucket="capture-gone").get("Contents", []):
                s3.delete_object(Bucket="capture-gone", Key=item["Key"])
            s3.delete_bucket(Bucket="capture-gone")
            send(client, 5, seed=10)
            srv.capture.flush()
            assert dropped(client) == 5
            s3.create_bucket(Bucket="capture-gone")
            send(client, 5, seed=20)
            srv.capture.flush()
            assert srv.capture.written == 10
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="capture-gone")["Contents"]]
    assert len(keys) == 1  # the file written after the bucket came back


def test_endpoint_killed_during_standard_executions(settings: Settings, store: Store, tmp_path: Path) -> None:
    """Executions running when the endpoint dies retry (pipeline Retry on EndpointUnavailable),
    then fail with that name; none is left running; a restarted endpoint serves new ones."""
    images = put_images(store)
    machines.create(settings, "pipeline", machines.pipeline_definition())
    server = ServerProcess(settings.home, "", tmp_path / "endpoint.log")
    register(settings, server.url)
    inputs = [{"image_data": "", "s3_bucket": "scones", "s3_key": images["red"]} for _ in range(16)]
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(summary=testcases.run(settings, "pipeline", inputs, 4, "STANDARD"))
    )
    runner.start()
    deadline = time.monotonic() + 120
    while len(records.list_for(settings, "pipeline", "SUCCEEDED")) < 3:
        assert time.monotonic() < deadline and runner.is_alive(), "executions did not start succeeding"
        time.sleep(0.02)
    server.kill()
    runner.join(300)
    summary = result["summary"]
    assert summary.succeeded >= 3 and set(summary.failed) == {"EndpointUnavailable"}, summary
    assert summary.succeeded + summary.failed["EndpointUnavailable"] == 16
    assert not records.list_for(settings, "pipeline", "RUNNING")
    failed = records.get(settings, summary.examples["EndpointUnavailable"])
    classify = [e for e in records.history(settings, failed) if e["type"] == "TaskScheduled" and "classify" in str(e)]
    assert len(classify) == 3  # the first try and the 2 retries of the pipeline's Retry
    restarted = ServerProcess(settings.home, "", tmp_path / "endpoint.log", port=server.port)  # same URL
    try:
        again = testcases.run(settings, "pipeline", inputs[:4], 2, "STANDARD")
        assert again.succeeded == 4, again
    finally:
        restarted.stop()


def test_storage_unavailable_is_a_named_error() -> None:
    """moto's S3 server stops under a configured store: StorageError, one line from the CLI.
    (A wrong --s3-endpoint-url is a case of tests/cli/test_bad_input.py.)"""
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="scones")
    settings = load_settings(storage="s3", s3_endpoint_url=url)
    store = Store(settings)
    put_images(store)
    assert any(store.list("scones", "data/test"))
    moto.stop()
    started = time.monotonic()
    result = CliRunner().invoke(app, ["--storage", "s3", "--s3-endpoint-url", url, "testcases"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Storage failed" in errors[0], result.stderr  # StorageError's message
    assert isinstance(result.exception, SystemExit)  # the CLI's translation of StorageError, not a crash
    assert time.monotonic() - started < 60  # botocore's retries are bounded (~5 s per call on a refused port)
