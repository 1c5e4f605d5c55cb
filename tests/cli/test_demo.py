"""`scones demo`: --clean removes what the demo made; the whole run is a slow end-to-end test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
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
@pytest.mark.timeout(2400)  # two demo runs (10 min under load on CI) or a 10-minute soak
def test_the_whole_demo_runs_end_to_end_and_reuses_on_a_second_run(
    dev_archive: Path, request: pytest.FixtureRequest
) -> None:
    """In this process, or with --demo-scones as that `scones` executable: CI gives it one
    installed with `pip install .` alone, so the same run shows the runtime needs no dev extra."""
    demo = _demo_command(request.config.getoption("demo_scones"))
    first = demo(["demo", "--source", str(dev_archive), "--testcases", "40"])
    try:
        assert first.exit_code == 0, first.output
        for what in ("accuracy", "executions", "drift", "report", "console", "endpoint"):
            assert what in first.stdout
        second = demo(["demo", "--source", str(dev_archive), "--testcases", "40"])
        assert second.exit_code == 0, second.output
        assert "Nothing to do" in second.stdout or "nothing to do" in second.stdout.lower()
        assert "Reusing training job" in second.stdout
    finally:
        demo(["demo", "--clean"])


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    output: str


def _demo_command(scones: str) -> Callable[[list[str]], Outcome]:
    if not scones:
        return lambda args: _in_process(runner.invoke(app, args))
    # the installed scones only: no PYTHONPATH pointing back at this checkout's sources
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(args: list[str]) -> Outcome:
        done = subprocess.run([scones, *args], env=environ, capture_output=True, text=True, timeout=3600)
        return Outcome(done.returncode, done.stdout, done.stdout + done.stderr)

    return run


def _in_process(result: Result) -> Outcome:
    return Outcome(result.exit_code, result.stdout, result.output)
