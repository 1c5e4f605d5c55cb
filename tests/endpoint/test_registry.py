"""deploy / endpoints / describe-endpoint / invoke / delete-endpoint through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import table
from scones.storage import Store
from tests.helpers import SCONES, png_bytes

NAME = "bike-motorbike-image-classifier"


def scones_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `scones` command in its own process."""
    return subprocess.run([*SCONES, *args], capture_output=True, text=True, timeout=120)


def scones(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The same command in this process (faster; the servers it starts are still real processes)."""
    result = CliRunner().invoke(app, list(args), env=env)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


@pytest.fixture(autouse=True)
def no_endpoint_outlives_its_test(settings: Settings) -> Iterator[None]:
    """Stop whatever a test deployed, even when it failed half-way."""
    yield
    from scones.endpoint.registry import delete, list_endpoints

    for record in list_endpoints(settings):
        delete(settings, record.name)


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    red.write_bytes(png_bytes((200, 30, 30)))
    blue.write_bytes(png_bytes((30, 30, 200)))
    return red, blue


def row(settings: Settings, name: str = NAME) -> tuple[str, str] | None:
    """What the Lambda functions read (read-only, standard library only)."""
    found = table.url_and_status(settings.state_db, name)
    return None if found is None else (str(found[0]), found[1])


def alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_deploy_invoke_redeploy_delete(
    settings: Settings, store: Store, model_file: Path, images: tuple[Path, Path]
) -> None:
    deployed = scones_process("deploy", "--model", str(model_file), "--capture-percent", "100")
    assert deployed.returncode == 0, deployed.stderr
    assert "InService" in deployed.stdout
    found = row(settings)
    assert found is not None and found[1] == "InService"
    url = found[0]
    assert httpx.get(f"{url}/ping").status_code == 200

    listed = json.loads(scones("endpoints", "--json").stdout)
    assert [e["name"] for e in listed] == [NAME] and listed[0]["config"]["capture_percent"] == 100
    described = json.loads(scones("describe-endpoint", NAME).stdout)
    first_pid = described["pid"]
    assert described["status"] == "InService" and described["model"] == str(model_file)

    invoked = scones("invoke", NAME, *map(str, images))
    assert invoked.returncode == 0, invoked.stderr
    lines = invoked.stdout.strip().splitlines()
    assert lines[0].startswith(f"{images[0]}: bicycle") and lines[1].startswith(f"{images[1]}: motorcycle")
    assert "bicycle=" in lines[0] and "motorcycle=" in lines[0]

    redeployed = scones("deploy", "--model", str(model_file), "--capture-percent", "100")  # no retraining, same URL
    assert redeployed.returncode == 0, redeployed.stderr
    again = json.loads(scones("describe-endpoint", NAME).stdout)
    assert again["url"] == url and again["pid"] != first_pid and again["created"] == described["created"]
    assert not alive(first_pid)
    boto = httpx.post(f"{url}/endpoints/{NAME}/invocations", content=images[1].read_bytes(),
                      headers={"content-type": "image/png"})  # fmt: skip
    assert boto.json()[1] > 0.99

    deleted = scones_process("delete-endpoint", NAME)
    assert deleted.returncode == 0, deleted.stderr
    assert not alive(again["pid"])
    assert row(settings) is None
    assert "No endpoints" in scones("endpoints").stdout
    captured = [o for o in store.list("scones", f"data_capture/{NAME}/AllTraffic")]
    lines_written = sum(len(store.get("scones", o.key).splitlines()) for o in captured)
    assert lines_written == 3  # every accepted record of both deployments was flushed on stop


def test_a_killed_endpoint_is_reported_failed(settings: Settings, model_file: Path) -> None:
    assert scones("deploy", "--model", str(model_file), "--name", "doomed").returncode == 0
    pid = json.loads(scones("describe-endpoint", "doomed").stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = json.loads(scones("describe-endpoint", "doomed").stdout)
    assert described["status"] == "Failed" and "gone" in described["failure_reason"]
    assert row(settings, "doomed") == (described["url"], "Failed")
    assert scones("delete-endpoint", "doomed").returncode == 0


def test_deploy_by_training_job_name_and_with_a_token(settings: Settings, store: Store, model_file: Path) -> None:
    from scones.model import jobs

    store.put("scones", "models/job-1/output/model.tar.gz", model_file.read_bytes())
    jobs.create(settings, "job-1", {}, {}, "checksum")
    jobs.finish(settings, "job-1", "Completed", duration_seconds=1.0,
                artifact_uri="s3://scones/models/job-1/output/model.tar.gz")  # fmt: skip
    env = {"SCONES_AUTH_TOKEN": "tok-123"}
    deployed = scones("deploy", "--model", "job-1", "--name", "by-job", env=env)
    assert deployed.returncode == 0, deployed.stderr
    url = json.loads(scones("describe-endpoint", "by-job").stdout)["url"]
    red = png_bytes((200, 30, 30))
    assert httpx.post(f"{url}/invocations", content=red, headers={"content-type": "image/png"}).status_code == 401
    ok = httpx.post(f"{url}/invocations", content=red,
                    headers={"content-type": "image/png", "authorization": "Bearer tok-123"})  # fmt: skip
    assert ok.status_code == 200
    assert "InService" not in scones("describe-endpoint", "by-job").stderr
    assert scones("delete-endpoint", "by-job").returncode == 0


def test_deploy_failures_are_one_line_errors(settings: Settings, model_file: Path, tmp_path: Path) -> None:
    missing = scones("deploy", "--model", str(tmp_path / "nope.tar.gz"))
    assert missing.returncode == 1 and "Error: No model at" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    bad = scones("deploy", "--model", str(junk))
    assert bad.returncode == 1 and "not a readable model.tar.gz" in bad.stderr
    unknown_job = scones("deploy", "--model", "no-such-job")
    assert unknown_job.returncode == 1 and "no-such-job" in unknown_job.stderr
    assert scones("deploy", "--model", str(model_file), "--name", "Bad_Name!").returncode == 1
    assert "No endpoint named" in scones("invoke", "ghost", str(model_file)).stderr
    assert scones("delete-endpoint", "ghost").returncode == 1

    with socket.socket() as taken:  # the port is in use: the server cannot start
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = scones(
            "deploy", "--model", str(model_file), "--name", "blocked", "--port", str(port), "--timeout", "30"
        )
    assert failed.returncode == 1 and "endpoint-blocked.log" in failed.stderr
    assert row(settings, "blocked") is not None and row(settings, "blocked")[1] == "Failed"  # type: ignore[index]
