"""Local AWS fixtures: the real app on uvicorn on a free loopback port, and real boto3 clients for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from scones.config import Settings
from scones.localaws import LocalAws, load_up_config
from scones.localaws.server import bind, guarded


@contextmanager
def running(settings: Settings, **flags: Any) -> Iterator[str]:
    """`scones up`'s app serving in a thread; yields its URL."""
    import uvicorn

    config = load_up_config(port=0, **flags)
    sock = bind(config)
    app = LocalAws(settings, config)
    app.pools.endpoint_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(guarded(app, config), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def local_aws(settings: Settings) -> Iterator[str]:
    with running(settings) as url:
        yield url


@pytest.fixture
def client(local_aws: str) -> Callable[..., Any]:
    """boto3 clients for the local AWS: client("s3"), client("sts", config=...)."""

    def make(service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
        return boto3.client(service, endpoint_url=local_aws, region_name="us-east-1", **kwargs)

    return make


@pytest.fixture
def s3(client: Callable[..., Any]) -> Any:
    return client("s3")


@pytest.fixture
def sagemaker_sdk(local_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SageMaker Python SDK module, pointed at `scones up` by the variables it prints."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    config = tmp_path / "sagemaker-config.yaml"  # the SDK's telemetry would call AWS itself: opt out
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker SDK is installed from requirements-sdk.lock")
    # The SDK polls every 5 s (and sleeps 30 s before its first DescribeEndpoint); a local endpoint or job is
    # ready in seconds. Its own poll helper is called with a 1 s poll instead: the same calls, in the same order.
    wait_until = sagemaker.session._wait_until
    monkeypatch.setattr(sagemaker.session, "_wait_until", lambda fn, poll=5: wait_until(fn, 1))
    return sagemaker
