"""Postgres workers: 3 worker processes share STANDARD executions; one is killed mid-run
(bench/workers_crash.py does the work, on its own DBOS database, dropped afterwards). The server
is the session's (tests/conftest.py: embedded, or SCONES_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from scones.config import load_settings
from scones.errors import WorkflowError
from scones.workflow import executions, launcher, machines, standard, workers
from tests.postgres import with_database

REPO = Path(__file__).resolve().parents[2]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"  # only parsed, never connected to


@pytest.mark.postgres
def test_three_workers_one_killed_all_succeed_within_the_endpoint_limit(postgres_url: str) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "workers_crash.py"), "--database", postgres_url, "--count", "24",
         "--endpoint-concurrency", "2"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(out.stdout)
    print(json.dumps(result))  # shown when an assertion fails
    assert result["statuses"] == {"SUCCEEDED": 24}
    assert result["finished_steps_run_again"] == 0  # DBOS replayed them for the worker that took over
    assert result["every_step_ran"] is True
    assert 0 < result["steps_recorded_before_kill"] < 72  # the kill landed mid-run
    assert result["killed_worker_steps"] >= 4
    assert len(result["steps_by_worker"]) >= 2  # the killed worker's executions finished elsewhere
    assert result["max_concurrent_classify"] <= 2  # the per-endpoint limit held across workers


@pytest.mark.postgres
def test_starting_without_a_worker_says_to_start_one(tmp_path: Path, postgres_url: str) -> None:
    database = with_database(postgres_url, f"test_scones_none_{uuid.uuid4().hex[:8]}")  # never created
    settings = load_settings(home=tmp_path / "home", database_url=database)
    machines.create(settings, "pipeline", machines.pipeline_definition())
    with pytest.raises(WorkflowError, match="scones workflow worker"):
        executions.start(settings, "pipeline", {"image_data": "", "s3_bucket": "scones", "s3_key": "x.png"})


def test_only_postgres_urls_use_the_queue(tmp_path: Path) -> None:
    assert launcher.uses_queue(load_settings(home=tmp_path, database_url=POSTGRES))
    assert not launcher.uses_queue(load_settings(home=tmp_path))
    assert not launcher.uses_queue(load_settings(home=tmp_path, database_url="sqlite:///x.sqlite"))
    with pytest.raises(WorkflowError, match="--database-url postgresql"):
        standard.serve(load_settings(home=tmp_path), workers.WorkerConfig())


@pytest.mark.parametrize(
    "flags", [{"concurrency": 0}, {"endpoint_concurrency": 0}, {"heartbeat_seconds": 5, "dead_after_seconds": 1}]
)
def test_bad_worker_config(flags: dict[str, float]) -> None:
    with pytest.raises(WorkflowError):
        workers.worker_config(**flags)


@pytest.mark.postgres
def test_the_worker_command_beats_and_stops_cleanly_on_sigterm(tmp_path: Path, postgres_url: str) -> None:
    import os
    import signal
    import time

    import psycopg

    name = f"test_scones_cli_{uuid.uuid4().hex[:8]}"
    url = with_database(postgres_url, name)
    env = {**os.environ, "SCONES_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-c", "from scones.cli import main; main()", "workflow", "worker", "--database-url", url]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        beats = 0
        while not beats and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.3)
            try:
                with psycopg.connect(url) as conn:
                    beats = conn.execute("SELECT count(*) FROM scones_workers").fetchone()[0]  # type: ignore[index]
            except psycopg.Error:
                continue  # the worker has not created its database or table yet
        assert beats == 1, worker.stderr.read() if worker.poll() is not None else "no heartbeat"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
