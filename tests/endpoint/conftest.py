"""Endpoint fixtures: a real uvicorn server on 127.0.0.1 in a thread, around the tiny model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from scones.config import Settings
from scones.endpoint.app import App
from scones.endpoint.server import build_server
from scones.endpoint.service import EndpointConfig
from scones.model.artifact import Artifact
from tests.helpers import tiny_artifact


class Running:
    """A server started by `start_server`: its URL and its app (to reach the service)."""

    def __init__(self, url: str, app: App) -> None:
        self.url, self.app = url, app

    @property
    def capture(self) -> Any:
        assert self.app.slot.service is not None
        return self.app.slot.service.capture


@contextmanager
def running(settings: Settings, artifact: Artifact | None = None, **config: Any) -> Iterator[Running]:
    """Serve the tiny model with `config` on a free port until the block ends (lifespan included)."""
    import uvicorn

    app = App(artifact or tiny_artifact(), EndpointConfig(**{"port": 0, **config}), settings)
    server = uvicorn.Server(build_server(app, app.config))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def start_server(settings: Settings) -> Callable[..., Any]:
    """`with start_server(capture_percent=100) as srv:` -> a live server on 127.0.0.1."""
    return lambda **config: running(settings, **config)
