"""Security checks of issue 9: loopback by default, constant-time token checks, no secrets in
logs, capture or state, and a home readable by its user only.

The end-to-end check runs the real CLI: `scones deploy` (a detached server process) with a
token and AWS credentials in the environment, invocations, a STANDARD pipeline execution
(the functions send the token), the endpoint's deletion (capture flushed); then every file
under the home is searched for the secrets and its permissions are read.
"""

from __future__ import annotations

import ast
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.service import EndpointConfig
from scones.storage import Store
from scones.workflow import executions, machines
from tests.conftest import free_port
from tests.functions.support import put_images
from tests.helpers import SCONES, png_bytes, served

SRC = Path(__file__).resolve().parents[2] / "src" / "scones"
TOKEN = "tok-3f9a1c7e5b2d48e0a6c4"  # distinctive strings to grep for
AWS_SECRET = "awsSECRET/9d8c7b6a5f4e3d2c1b0a"
AWS_KEY = "AKIASCONESTESTKEY0001"


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket `pid` listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_ip)
            if width == 8:
                address = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four little-endian 32-bit words
                address = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            found.append((address, int(hex_port, 16)))
    return found


def test_defaults_are_loopback() -> None:
    assert EndpointConfig().host == "127.0.0.1"
    import inspect

    from scones.cli import console
    from scones.console import app as console_app

    assert inspect.signature(console_app.serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(console.console).parameters["host"].default == "127.0.0.1"


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)


@pytest.fixture
def deployed(settings: Settings, model_file: Path, secrets_env: None) -> Iterator[str]:
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "--model", str(model_file), "--port", "0", "--capture-percent", "100"])
    assert result.exit_code == 0, result.output
    try:
        yield registry.describe(settings, settings.endpoint_name).url
    finally:
        runner.invoke(app, ["delete-endpoint", settings.endpoint_name])


def test_endpoint_process_listens_on_loopback_and_hides_the_token(settings: Settings, deployed: str) -> None:
    pid = int(registry.describe(settings, settings.endpoint_name).pid or 0)
    addresses = listening(pid)
    assert addresses and all(address == "127.0.0.1" for address, _ in addresses), addresses
    assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()  # `ps` shows the command line


def test_console_listens_on_loopback(settings: Settings, secrets_env: None) -> None:
    port = free_port()
    command = [*SCONES, "console", "--port", str(port)]
    with served(command, f"http://127.0.0.1:{port}", health="/healthz") as console:
        addresses = listening(console.process.pid)
        assert addresses == [("127.0.0.1", port)], addresses
        assert httpx.get(f"{console.url}/", headers={"accept": "application/json"}).status_code == 401
        assert TOKEN.encode() not in Path(f"/proc/{console.process.pid}/cmdline").read_bytes()


def test_no_secrets_anywhere_and_home_is_private(settings: Settings, store: Store, deployed: str) -> None:
    with httpx.Client(base_url=deployed) as client:
        assert (
            client.post("/invocations", content=png_bytes(), headers={"content-type": "image/png"}).status_code == 401
        )
        for _ in range(5):
            headers = {"content-type": "image/png", "authorization": f"Bearer {TOKEN}",
                       "x-amzn-sagemaker-custom-attributes": "trace=1"}  # fmt: skip
            assert client.post("/invocations", content=png_bytes(), headers=headers).status_code == 200
    images = put_images(store)
    machines.create(settings, "pipeline", machines.pipeline_definition())
    execution = executions.start(settings, "pipeline", {"s3_bucket": "scones", "s3_key": images["red"]},
                                 type_="STANDARD")  # fmt: skip
    assert execution.status == "SUCCEEDED", execution.cause  # the classify function sent the token
    CliRunner().invoke(app, ["delete-endpoint", settings.endpoint_name])  # flushes capture
    captured = list((settings.buckets_dir / "scones" / "data_capture").rglob("*.jsonl"))
    assert captured
    leaks, loose = [], []
    for path in [settings.home, *settings.home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for secret in (TOKEN, AWS_SECRET, AWS_KEY):
                if secret.encode() in data:
                    leaks.append(f"{secret[:6]}... in {path.relative_to(settings.home)}")
        if mode & 0o077:
            loose.append(f"{oct(mode)} {path.relative_to(settings.home)}")
    assert not leaks, leaks
    assert not loose, loose


def _compares_a_token(node: ast.Compare) -> bool:
    if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
        return False
    for side in (node.left, *node.comparators):
        name = side.id if isinstance(side, ast.Name) else side.attr if isinstance(side, ast.Attribute) else ""
        if any(word in name.lower() for word in ("token", "secret", "password")):
            return True
    return False


def test_secrets_are_compared_in_constant_time() -> None:
    """No `==`/`!=` on anything named token/secret/password in src; the two checkers use compare_digest."""
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _compares_a_token(node):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders
    for checker in ("endpoint/app.py", "console/auth.py"):
        assert "hmac.compare_digest" in (SRC / checker).read_text()


def test_verbose_cli_output_carries_no_credentials(secrets_env: None, moto_server: str) -> None:
    """-v logs botocore's INFO lines (where credentials were found), never their values."""
    command = [sys.executable, "-m", "scones.cli", "-v", "--storage", "s3", "--s3-endpoint-url", moto_server,
               "--bucket", "no-such-bucket-here", "testcases"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)  # a process: real log handlers
    assert result.returncode == 1 and "Error:" in result.stderr, result.stderr
    assert " INFO " in result.stderr  # verbose logging was on
    for secret in (TOKEN, AWS_SECRET, AWS_KEY):
        assert secret not in result.stdout and secret not in result.stderr
