"""The console's guard (console/guard.py): Host allow-list, token in the URL, cookie, --no-auth.

In-process through Starlette's TestClient for the rules; a real `scones console` process for
what a user does: open the printed URL, get the cookie, and be refused without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scones.config import Settings, load_settings
from scones.console import access_token, create_app
from scones.console.auth import COOKIE
from scones.console.guard import Guard, allowed_hosts, host_name, is_loopback, session_value
from scones.errors import ConfigError
from tests.conftest import free_port
from tests.console._client import LOCAL, TestClient


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, "s3cret", background_index=False), base_url=LOCAL) as c:
        yield c


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "10.0.0.7", "[::2]:80"])
def test_a_foreign_host_header_gets_403_even_with_the_token(client: TestClient, host: str) -> None:
    response = client.get("/", headers={"Host": host, "Authorization": "Bearer s3cret"})
    assert response.status_code == 403
    assert "is not allowed here" in response.text
    assert client.get("/healthz", headers={"Host": host}).status_code == 403  # open paths too


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"])
def test_loopback_host_headers_are_allowed(client: TestClient, host: str) -> None:
    assert client.get("/", headers={"Host": host, "Authorization": "Bearer s3cret"}).status_code == 200


def test_the_configured_host_and_allow_host_are_allowed(settings: Settings) -> None:
    app = create_app(settings, "s3cret", host="console.lan", allow_hosts=["proxy.example"], background_index=False)
    with TestClient(app, base_url="http://console.lan") as c:
        headers = {"Authorization": "Bearer s3cret"}
        assert c.get("/", headers=headers).status_code == 200
        assert c.get("/", headers={**headers, "Host": "proxy.example"}).status_code == 200
        assert c.get("/", headers={**headers, "Host": "other.lan"}).status_code == 403


def test_host_rules() -> None:
    assert host_name("Example.COM:80") == "example.com" and host_name("[::1]:8000") == "::1"
    assert allowed_hosts("0.0.0.0") == frozenset({"localhost", "127.0.0.1", "::1"})  # noqa: S104
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("0.0.0.0")  # noqa: S104


def test_without_the_token_nothing_is_readable(client: TestClient) -> None:
    for path in ("/", "/store/scones/", "/endpoints", "/executions"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 401, path
    assert client.get("/?token=wrong", headers={"Accept": "application/json"}).status_code == 401


def test_the_token_in_the_url_sets_an_httponly_strict_cookie_and_leaves_the_url(client: TestClient) -> None:
    first = client.get("/models?token=s3cret&page=2", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/models?page=2"  # the token leaves the address bar
    cookie = first.headers["set-cookie"].lower()
    assert f"{COOKIE}={session_value('s3cret')}" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/models").status_code == 200  # the client kept the cookie


def test_a_token_is_generated_unless_configured_and_no_auth_is_explicit(settings: Settings) -> None:
    generated = access_token(settings, "127.0.0.1")
    assert generated and len(generated) >= 24 and generated != access_token(settings, "127.0.0.1")
    assert access_token(load_settings(home=settings.home, auth_token="mine"), "127.0.0.1") == "mine"
    assert access_token(settings, "127.0.0.1", no_auth=True) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "console.lan"])  # noqa: S104
def test_no_auth_is_refused_off_loopback(settings: Settings, host: str) -> None:
    with pytest.raises(ConfigError, match="--no-auth is refused with --host"):
        access_token(settings, host, no_auth=True)


def test_no_auth_with_a_token_is_a_contradiction(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="contradict"):
        access_token(load_settings(home=settings.home, auth_token="mine"), "127.0.0.1", no_auth=True)


def _console(home: Path, port: int, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    """A real `scones console`; returns it and the URL it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCONES_")}
    environ["SCONES_HOME"] = str(home)
    command = [sys.executable, "-m", "scones.cli", "console", "--port", str(port), *flags]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    url = re.search(r"http://\S+", line)
    assert url, line
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, url.group(0)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the console did not start")


def test_a_default_console_refuses_without_the_token_and_opens_with_the_printed_url(tmp_path: Path) -> None:
    port = free_port()
    process, url = _console(tmp_path / "home", port)
    try:
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?token=[\w-]{{24,}}", url)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/store/scones/").status_code == 401
        assert httpx.get(f"{base}/", headers={"Host": "rebound.example"}).status_code == 403
        with httpx.Client(follow_redirects=True) as browser:
            assert browser.get(url).status_code == 200  # the printed URL signs in
            assert browser.get(f"{base}/endpoints").status_code == 200  # then the cookie does
            assert browser.get(f"{base}/", headers={"Host": f"rebound.example:{port}"}).status_code == 403
    finally:
        process.terminate()
        process.wait(10)


def test_no_auth_console_prints_no_token_and_still_checks_the_host(tmp_path: Path) -> None:
    port = free_port()
    process, url = _console(tmp_path / "home", port, "--no-auth")
    try:
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(url).status_code == 200
        assert httpx.get(url, headers={"Host": "rebound.example"}).status_code == 403
    finally:
        process.terminate()
        process.wait(10)


def test_the_guard_wraps_any_app_and_refuses_websockets_too() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    guard = Middleware(Guard, token="s3cret", hosts=allowed_hosts("127.0.0.1"))
    app = Starlette(routes=[WebSocketRoute("/ws", echo)], middleware=[guard])
    with TestClient(app, base_url=LOCAL) as c:
        # (the test client's websockets name "testserver" whatever the base URL: the Host is given)
        good = {"Authorization": "Bearer s3cret", "Host": "127.0.0.1"}
        with c.websocket_connect("/ws", headers=good) as ws:
            assert ws.receive_text() == "hello"
        for headers in ({**good, "Host": "evil.example"}, {"Host": "127.0.0.1"}):
            with pytest.raises(WebSocketDisconnect) as refused, c.websocket_connect("/ws", headers=headers):
                pass
            assert refused.value.code == 1008
