"""`scones up` as a user runs it: a real process, the banner, real clients, SIGTERM; bad input exits 1."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
from typer.testing import CliRunner

from scones.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_up_prints_the_exports_serves_and_stops_on_sigterm(clean_environ: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scones.cli", "up", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(4)]
        assert lines[0].startswith(
            "scones up: local AWS (S3, STS, Lambda, CloudWatch Logs, Step Functions, SageMaker, SageMaker runtime) on "
            "http://127.0.0.1:"
        )
        assert lines[1].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
        assert lines[2:] == [
            "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test",
            "export AWS_DEFAULT_REGION=us-east-1",
        ]
        url = lines[1].split("=", 1)[1]
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="seed")
        assert (clean_environ / "buckets" / "seed").is_dir()  # the API's bucket is in the scones home
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_busy_port_is_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["up", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output and "pass another --port" in result.output
    assert "Traceback" not in result.output


def test_an_access_key_without_secret_is_refused() -> None:
    result = CliRunner().invoke(app, ["up", "--port", "0", "--access-key", "AKID"])
    assert result.exit_code == 1
    assert "both --access-key and --secret-key" in result.output


def test_a_bad_port_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["up", "--port", "70000"])
    assert result.exit_code == 2
