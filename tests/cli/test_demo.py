"""`scones demo`: --clean removes what the demo made; the whole run is a slow end-to-end test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings

runner = CliRunner()


def test_clean_stops_endpoints_and_removes_the_home(settings: Settings, model_file: Path) -> None:
    deployed = runner.invoke(app, ["deploy", "--name", "demo-endpoint", "--model", str(model_file)])
    assert deployed.exit_code == 0, deployed.output
    from scones.endpoint.registry import describe

    pid = describe(settings, "demo-endpoint").pid
    assert pid is not None and _alive(pid)

    result = runner.invoke(app, ["demo", "--clean"])
    assert result.exit_code == 0, result.output
    assert "deleted endpoint demo-endpoint" in result.output
    assert not settings.home.exists()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a stopped child may linger as a zombie until reaped; it no longer serves
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_the_whole_demo_runs_end_to_end_and_reuses_on_a_second_run(dev_archive: Path) -> None:
    first = runner.invoke(app, ["demo", "--source", str(dev_archive), "--testcases", "40"])
    try:
        assert first.exit_code == 0, first.output
        for what in ("accuracy", "executions", "drift", "report", "console", "endpoint"):
            assert what in first.stdout
        second = runner.invoke(app, ["demo", "--source", str(dev_archive), "--testcases", "40"])
        assert second.exit_code == 0, second.output
        assert "Nothing to do" in second.stdout or "nothing to do" in second.stdout.lower()
        assert "Reusing training job" in second.stdout
    finally:
        runner.invoke(app, ["demo", "--clean"])
