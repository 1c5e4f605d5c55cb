"""Real parts for the stage 3 tests: a live scones endpoint registered in the state database,
images in a local bucket, and a stand-in endpoint that always answers one status."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scones.config import DEFAULT_ENDPOINT_NAME, Settings
from scones.storage import Store
from tests.endpoint.conftest import running
from tests.helpers import png_bytes, register_endpoint

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (128, 128, 128)


def register(settings: Settings, url: str, status: str = "InService", name: str = DEFAULT_ENDPOINT_NAME) -> None:
    """Record endpoint `name` at `url` in the endpoints table, as `scones deploy` does."""
    register_endpoint(settings, name, url, status=status, pid=os.getpid())


@contextmanager
def live_endpoint(settings: Settings, **config: Any) -> Iterator[Any]:
    """The real scones endpoint serving the tiny model, registered under the default name."""
    with running(settings, **config) as server:
        register(settings, server.url)
        yield server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def status_server(status: int, body: bytes = b'{"ErrorCode": "ServiceUnavailable"}') -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every POST with `status`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def put_images(store: Store, bucket: str | None = None) -> dict[str, str]:
    """Red, blue and grey test images under data/test/; returns colour -> key."""
    bucket = bucket or store.settings.bucket
    keys = {}
    for name, colour in (("red", RED), ("blue", BLUE), ("grey", GREY)):
        key = f"data/test/{name}_s_000001.png"
        store.put(bucket, key, png_bytes(colour))
        keys[name] = key
    return keys
