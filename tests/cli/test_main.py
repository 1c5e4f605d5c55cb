"""The CLI's front door: help, usage errors, expected errors, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from scones.cli import app
from scones.errors import StorageError

runner = CliRunner()


def test_help_lists_the_stages() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output


def test_unknown_flag_is_a_usage_error_with_exit_2() -> None:
    result = runner.invoke(app, ["--no-such-flag"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_expected_errors_are_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    @app.command("_raise-for-test", hidden=True)
    def _raise() -> None:
        raise StorageError("Storage failed for s3://x/y; check that the store is reachable")

    try:
        result = runner.invoke(app, ["_raise-for-test"])
    finally:
        app.registered_commands.pop()
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Storage failed for s3://x/y; check that the store is reachable"
    assert "Traceback" not in result.output


def test_bad_configuration_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_STORAGE", "ftp")
    result = runner.invoke(app, ["demo", "--source", "/nonexistent.tar.gz"])
    assert result.exit_code == 1
    assert "SCONES_STORAGE" in result.output
    assert "Traceback" not in result.output


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, scones.cli; "
        "heavy = [m for m in ('torch', 'onnxruntime', 'matplotlib', 's3fs', 'moto', 'dbos') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_the_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "scones.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert isinstance(app, typer.Typer)
