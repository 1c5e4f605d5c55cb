"""Postgres workers: 3 `scones workflow worker` processes share N STANDARD executions; one is
killed with SIGKILL mid-run. Checks that all N succeed, that no step that had finished before
the kill runs again, and that the per-endpoint concurrency limit held across all workers.

    .venv/bin/python bench/workers_crash.py --count 60 --endpoint-concurrency 4 \
        --database postgresql://postgres@127.0.0.1:5432/test

Each run uses its own DBOS system database (<database>_scones_<random>), dropped at the end.
The handlers are stand-ins under the scones names that sleep ~20 ms and append one line per
invocation ("pid key function start end") to a shared log, so the kill lands mid-way.
Modes: `worker` is one worker process; the default mode orchestrates them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

FUNCTIONS = ("serialize_image_data", "classify_image", "filter_inferences")


def _stubs(log: Path) -> None:
    from scones.functions import runtime

    def make(name: str) -> Any:
        def handler(event: Any, context: Any) -> Any:
            body = event.get("body", event)
            started = time.time()
            time.sleep(0.02)
            with open(log, "a", encoding="utf-8") as out:  # O_APPEND: one whole line per invocation
                out.write(f"{os.getpid()} {body['s3_key']} {name} {started:.4f} {time.time():.4f}\n")
            return {"statusCode": 200, "body": {**body, "inferences": [0.99, 0.01]}}

        return handler

    for name in FUNCTIONS:
        runtime.use(name, make(name))


def worker(home: Path, database: str, log: Path, endpoint_concurrency: int) -> None:
    from scones.config import load_settings
    from scones.workflow import standard, workers

    _stubs(log)
    config = workers.WorkerConfig(
        concurrency=4, endpoint_concurrency=endpoint_concurrency, heartbeat_seconds=0.5, dead_after_seconds=3.0
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    standard.serve(load_settings(home=home, database_url=database), config, stop)


def _invocations(log: Path) -> list[tuple[int, str, str, float, float]]:
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
    return [(int(p), k, f, float(a), float(b)) for p, k, f, a, b in rows]


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def _live_workers(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM scones_workers WHERE beat > now() - interval '2 seconds'")
            return int(row.fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return 0


def _finished_steps(url: str) -> set[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT workflow_uuid, function_name FROM dbos.operation_outputs").fetchall()
    return {(arn, name.split(":", 1)[1]) for arn, name in rows if name.startswith("lambda:")}


def orchestrate(base: str, count: int, endpoint_concurrency: int, workdir: Path) -> dict[str, Any]:
    import psycopg

    from scones.config import load_settings
    from scones.workflow import machines, records, testcases

    root, _, admin_db = base.rpartition("/")
    name = f"{admin_db}_scones_{uuid.uuid4().hex[:10]}"
    url = f"{root}/{name}"
    log = workdir / "invocations.log"
    me = [sys.executable, __file__, "--database", url, "--log", str(log)]
    me += ["--endpoint-concurrency", str(endpoint_concurrency)]
    procs = [
        subprocess.Popen([*me, "--mode", "worker", "--home", str(workdir / f"worker{i}")], stderr=subprocess.DEVNULL)
        for i in range(3)
    ]
    try:
        deadline = time.monotonic() + 90
        while _live_workers(url) < 3:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        settings = load_settings(home=workdir / "starter", database_url=url)
        machines.create(settings, "crash", machines.pipeline_definition())
        inputs = [{"image_data": "", "s3_bucket": "scones", "s3_key": f"case-{i:03d}"} for i in range(count)]
        summary: dict[str, Any] = {}
        started = time.monotonic()
        runner = threading.Thread(
            target=lambda: summary.update(testcases.run(settings, "crash", inputs, count, "STANDARD").to_dict())
        )
        runner.start()
        # Kill a worker that has done some steps, once about a third of all steps have run.
        by_pid = {p.pid: p for p in procs}
        victim: subprocess.Popen[bytes] | None = None
        while victim is None:
            calls_so_far = _invocations(log)
            busy = Counter(c[0] for c in calls_so_far if c[0] in by_pid)
            if len(calls_so_far) >= count and busy and busy.most_common(1)[0][1] >= 4:
                victim = by_pid[busy.most_common(1)[0][0]]
            elif time.monotonic() > deadline + 60:
                raise SystemExit("no worker ran enough steps to be killed mid-run")
            else:
                time.sleep(0.005)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        killed_at = time.time()
        kill_seconds = time.monotonic() - started
        finished_before = _finished_steps(url)
        invoked_before = len(_invocations(log))
        runner.join(timeout=180)
        wall = time.monotonic() - started
        statuses = Counter(e.status for e in records.list_for(settings, "crash"))
        calls = _invocations(log)
        keys = {e.arn: json.loads(e.input or "{}")["s3_key"] for e in records.list_for(settings, "crash")}
        finished_keys = {(keys[arn], fn) for arn, fn in finished_before if arn in keys}
        after = [(k, f) for p, k, f, a, _ in calls if p != victim.pid and a >= killed_at]
        counted = Counter((k, f) for _, k, f, _, _ in calls)
        classify = [(a, b) for _, _, f, a, b in calls if f == "classify_image"]
        return {
            "count": count,
            "workers": 3,
            "killed_worker_steps": sum(1 for c in calls if c[0] == victim.pid),
            "steps_run_before_kill": invoked_before,
            "steps_recorded_before_kill": len(finished_keys),
            "statuses": dict(statuses),
            "finished_steps_run_again": len(set(after) & finished_keys),
            "in_flight_steps_run_again": sum(1 for n in counted.values() if n > 1),
            "every_step_ran": len(counted) == count * len(FUNCTIONS),
            "steps_by_worker": dict(Counter(str(p) for p, *_ in calls)),
            "endpoint_concurrency_limit": endpoint_concurrency,
            "max_concurrent_classify": _max_overlap(classify),
            "seconds_to_kill": round(kill_seconds, 2),
            "wall_seconds": round(wall, 2),
            "executions_per_second": round(count / wall, 1),
        }
    finally:
        from dbos import DBOS

        from scones.workflow import workers

        workers.close()
        DBOS.destroy()  # the starter launched DBOS too (run-testcases warms it up); let go before the drop
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("orchestrate", "worker"), default="orchestrate")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--endpoint-concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.mode == "worker":
        worker(args.home, args.database, args.log, args.endpoint_concurrency)
        return
    with tempfile.TemporaryDirectory(prefix="scones-workers-") as tmp:
        print(json.dumps(orchestrate(args.database, args.count, args.endpoint_concurrency, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
