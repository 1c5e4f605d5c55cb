"""`scones console`: its options, and bad values as usage errors (the server itself runs in
tests/console's browser tests as a real process)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from scones.cli import app

runner = CliRunner()


def test_help_names_the_options() -> None:
    result = runner.invoke(app, ["console", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--auth-token"):
        assert option in result.output


def test_a_bad_port_is_a_usage_error() -> None:
    result = runner.invoke(app, ["console", "--port", "70000"])
    assert result.exit_code == 2
    assert "65535" in result.output


def test_a_taken_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["console", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output
