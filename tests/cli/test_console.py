"""`scones console`: its options, and bad values as usage errors (the server itself runs in
tests/console's browser tests as a real process)."""

from __future__ import annotations

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
