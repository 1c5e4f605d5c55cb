"""STANDARD executions survive kill -9 of their runner (bench/workflow_crash.py does the work)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def crash(tmp_path: Path, count: int, concurrency: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "workflow_crash.py"), "--home", str(tmp_path / "crash"),
         "--count", str(count), "--concurrency", str(concurrency)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def check(result: dict[str, object], count: int) -> None:
    assert result["statuses_after"] == {"SUCCEEDED": count}
    assert result["finished_steps_run_again"] == 0
    assert result["every_step_ran"] is True
    assert 0 < int(result["steps_finished_before_crash"]) < 3 * count  # the kill landed mid-way


def test_kill_9_mid_batch_then_resume(tmp_path: Path) -> None:
    check(crash(tmp_path, 12, 4), 12)


@pytest.mark.slow
def test_kill_9_in_the_middle_of_100_executions(tmp_path: Path) -> None:
    check(crash(tmp_path, 100, 8), 100)
