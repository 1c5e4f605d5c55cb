"""STANDARD executions shared by worker processes through Postgres (`scones workflow worker`).

With a Postgres database URL (`--database-url` or SCONES_DATABASE_URL), starting a STANDARD
execution enqueues it on a DBOS queue instead of running it in the starting process;
`scones workflow worker` processes, on this host or others, dequeue and run it, each Lambda
call a DBOS step as on SQLite. The job carries everything a worker needs (definition,
bindings, input), so workers share only the database. The starting process keeps the
execution's record (its scones home), waits for the result and records it. `standard`
decides when an execution comes here (and refuses Map and Parallel first).

- Per-endpoint limit: the queue is partitioned by endpoint name, and at most
  `endpoint_concurrency` executions of one partition run at once across all workers, so a
  burst of executions queues up instead of overloading the endpoint.
- Crashes: each worker beats in the `scones_workers` table; a live worker that sees a beat
  older than `dead_after_seconds` re-enqueues the dead worker's unfinished executions (DBOS
  recovery keeps their queue and partition; steps that had finished are not run again).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from scones.config import Settings, resolve
from scones.errors import WorkflowError
from scones.functions import runtime
from scones.workflow import engine, launcher, machines, records, tasks

logger = logging.getLogger(__name__)

QUEUE = "scones-standard-executions"
STOP_SECONDS = 25  # on SIGTERM, how long running executions get to finish (the rest go to other workers)
WORKFLOW = "scones.queued_execution"
HEARTBEAT_DDL = """
CREATE TABLE IF NOT EXISTS scones_workers (
    executor_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now(),
    beat TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class WorkerConfig:
    """How workers share STANDARD executions (flags > SCONES_WORKER_* env > defaults).

    Attributes:
        concurrency: executions one worker runs at once.
        endpoint_concurrency: executions that may run at once per endpoint, across all workers.
        heartbeat_seconds: how often a worker says it is alive.
        dead_after_seconds: a worker silent this long is dead; its executions move to others.
    """

    concurrency: int = 4
    endpoint_concurrency: int = 8
    heartbeat_seconds: float = 1.0
    dead_after_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.endpoint_concurrency < 1:
            raise WorkflowError("Worker concurrency and endpoint concurrency must be at least 1")
        if not 0 < self.heartbeat_seconds < self.dead_after_seconds:
            raise WorkflowError("Give 0 < heartbeat_seconds < dead_after_seconds, e.g. 1 and 10")


def worker_config(**flags: Any) -> WorkerConfig:
    return resolve(WorkerConfig, flags, env_prefix="SCONES_WORKER_")


# -- the workflow workers run -------------------------------------------------------------------
@DBOS.workflow(name=WORKFLOW)
def _queued(job: dict[str, Any]) -> dict[str, Any]:
    """One execution from its self-contained job; returns its outcome and its task steps."""
    context = contextvars.copy_context()  # the workflow's DBOS context, for the interpreter's threads
    steps: list[dict[str, Any]] = []

    def call(function: str, payload: Any) -> dict[str, Any]:
        local = tasks.bound(job["bindings"], function)
        step = context.run(_step, local, payload)
        steps.append({k: step[k] for k in ("function", "status", "error", "duration_ms")})
        return step["response"]

    outcome = engine.run(
        job["definition"], job["input"], call, execution_arn=job["arn"], state_machine_arn=job["machine_arn"]
    )
    return {
        "status": outcome.status,
        "output": outcome.output,
        "error": outcome.error,
        "cause": outcome.cause,
        "events": outcome.events,
        "steps": steps,
        "worker": launcher.EXECUTOR_ID,
    }


def _step(function: str, payload: Any) -> tasks.TimedCall:
    """Run the Lambda call as a DBOS step: recorded once finished, replayed (not re-run) on recovery."""
    config = runtime.config_from(_serving) if _serving is not None else None  # this worker's home and endpoint
    result: tasks.TimedCall = DBOS.run_step(
        {"name": f"lambda:{function}"}, tasks.timed_invoke, function, payload, config
    )
    return result


_serving: Settings | None = None  # the settings of the worker running in this process (`serve` sets them)


# -- the starting side --------------------------------------------------------------------------
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _client(settings: Settings) -> Any:
    from dbos import DBOSClient

    url = settings.database_url or ""
    with _clients_lock:
        if url not in _clients:
            try:
                _clients[url] = DBOSClient(
                    system_database_url=url, application_name="scones", system_database_pool_size=32
                )
            except Exception as exc:  # noqa: BLE001 - SQLAlchemy/psycopg raise many kinds; one boundary
                raise WorkflowError(
                    f"Cannot reach the executions database ({exc}); start PostgreSQL and a 'scones workflow worker'"
                ) from exc
        return _clients[url]


def close() -> None:
    """Close this process's connections to the executions databases (before dropping one, say)."""
    with _clients_lock:
        for client in _clients.values():
            client.destroy()
        _clients.clear()


def run(
    settings: Settings, execution: records.Execution, machine: machines.StateMachine, endpoint: str | None = None
) -> None:
    """Enqueue a prepared STANDARD execution of `machine` for the workers, wait for it and record how it ended."""
    _require_worker(settings)
    job = {
        "arn": execution.arn,
        "machine_arn": machine.arn,
        "definition": machine.definition,
        "bindings": machine.bindings,
        "input": json.loads(execution.input or "null"),
    }
    options = {
        "queue_name": QUEUE,
        "workflow_name": WORKFLOW,
        "workflow_id": execution.arn,  # enqueuing twice attaches to the same execution
        "app_version": launcher.APP_VERSION,
        "queue_partition_key": endpoint or settings.endpoint_name,
    }
    handle = _client(settings).enqueue(options, job)
    _record(settings, execution.arn, handle.get_result(polling_interval_sec=0.05))


def _record(settings: Settings, arn: str, result: dict[str, Any]) -> None:
    for step in result["steps"]:
        records.add_step(settings, arn, step["function"], step["status"], step["error"], step["duration_ms"])
    outcome = engine.Outcome(result["status"], result["output"], result["error"], result["cause"], result["events"])
    records.finish(settings, arn, outcome)


def _require_worker(settings: Settings) -> None:
    import psycopg

    try:
        with psycopg.connect(_psycopg_url(settings), connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM scones_workers WHERE beat > now() - interval '1 minute'"
            ).fetchone()
    except psycopg.Error as exc:
        raise WorkflowError(
            f"No scones workflow worker has used this database ({type(exc).__name__}); "
            "start one with 'scones workflow worker' (same --database-url)"
        ) from exc
    if not row or not row[0]:
        raise WorkflowError(
            "No scones workflow worker is running on this database; start one: 'scones workflow worker'"
        )


def _psycopg_url(settings: Settings) -> str:
    url = settings.database_url or ""
    for driver in ("+psycopg2", "+psycopg"):
        url = url.replace(driver, "")
    return url


# -- the worker side ----------------------------------------------------------------------------
def serve(
    settings: Settings,
    config: WorkerConfig,
    stop: threading.Event | None = None,
    collect: Callable[[Settings], object] | None = None,
) -> None:
    """Run executions from the queue until `stop` is set (or the process is killed).

    `collect`, if given, runs once after the first heartbeat, in a thread of its own, with this
    worker's settings (`standard.collect`: this home's executions whose starter died).
    """
    import psycopg

    if not launcher.uses_queue(settings):
        raise WorkflowError("Workers share executions through Postgres: pass --database-url postgresql://...")
    global _serving
    _serving = settings
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():  # SIGTERM: finish what is running, then exit
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _warm_up()
    launcher.ensure(settings, queues=[QUEUE])  # under this process's executor id; other processes only enqueue
    DBOS.register_queue(
        QUEUE,
        worker_concurrency=config.concurrency,
        partition_concurrency=config.endpoint_concurrency,
        polling_interval_sec=0.05,
        on_conflict="always_update",
    )
    with psycopg.connect(_psycopg_url(settings), autocommit=True) as conn:
        conn.execute(HEARTBEAT_DDL)
        logger.info("worker %s serving %s", launcher.EXECUTOR_ID, QUEUE)
        first = True
        while not stop.is_set():
            conn.execute(
                "INSERT INTO scones_workers (executor_id, host, pid) VALUES (%s, %s, %s) "
                "ON CONFLICT (executor_id) DO UPDATE SET beat = now()",
                (launcher.EXECUTOR_ID, socket.gethostname(), os.getpid()),
            )
            _recover_dead(conn, config)
            if first and collect is not None:  # after the first beat: running an execution needs a live worker
                threading.Thread(target=collect, args=(settings,), name="scones-collect", daemon=True).start()
            first = False
            stop.wait(config.heartbeat_seconds)
    logger.info("worker %s stopping; finishing its running executions", launcher.EXECUTOR_ID)
    DBOS.destroy(workflow_completion_timeout_sec=STOP_SECONDS)  # stops dequeuing, waits for running ones


def _warm_up() -> None:
    """Load the ASL interpreter (seconds of imports) before taking work, not while holding a slot."""
    definition = '{"StartAt": "Ready", "States": {"Ready": {"Type": "Pass", "End": true}}}'
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:warm-up"

    def no_task(function: str, payload: Any) -> dict[str, Any]:
        raise WorkflowError(f"the warm-up has no tasks, yet called {function}")

    engine.run(definition, {}, no_task, execution_arn=arn + ":x", state_machine_arn=arn)


def _recover_dead(conn: Any, config: WorkerConfig) -> None:
    # DELETE ... RETURNING hands each dead worker to exactly one live worker.
    dead = [
        row[0]
        for row in conn.execute(
            "DELETE FROM scones_workers WHERE beat < now() - make_interval(secs => %s) RETURNING executor_id",
            (config.dead_after_seconds,),
        ).fetchall()
    ]
    if dead:
        recovered = DBOS._recover_pending_workflows(dead)  # re-enqueued on their own queue and partition
        logger.warning("workers %s are gone; %d executions go back on the queue", dead, len(recovered))
