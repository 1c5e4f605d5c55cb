"""Local AWS fixtures: the real app on uvicorn on a free loopback port, and real boto3 clients for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
