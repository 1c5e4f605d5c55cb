"""Crash test for STANDARD executions: kill -9 the runner in the middle of N executions, restart,
and check that all N finish and that no task step that had finished before the crash runs again.

    .venv/bin/python bench/workflow_crash.py --count 100 --concurrency 8

The handlers are stand-ins under the scones names that append one line per invocation
("pid execution function") to an append-only file and take ~20 ms, so the kill lands mid-way.
Modes `run` and `resume` are the two runner processes; the default mode orchestrates them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

FUNCTIONS = ("serialize_image_data", "classify_image", "filter_inferences")


def _stubs(log: Path) -> None:
    from scones.functions import runtime

    def make(name: str) -> Any:
        def handler(event: Any, context: Any) -> Any:
            body = event.get("body", event)
            time.sleep(0.02)
            with open(log, "a", encoding="utf-8") as out:  # O_APPEND: one whole line per invocation
                out.write(f"{os.getpid()} {body['s3_key']} {name}\n")
            return {"statusCode": 200, "body": {**body, "inferences": [0.99, 0.01]}}

        return handler

    for name in FUNCTIONS:
        runtime.use(name, make(name))


def run(home: Path, count: int, concurrency: int) -> None:
    from scones.config import load_settings
    from scones.workflow import machines, testcases

    settings = load_settings(home=home)
    _stubs(home / "invocations.log")
    machines.create(settings, "crash", machines.pipeline_definition())
    inputs = [{"image_data": "", "s3_bucket": "scones", "s3_key": f"case-{i:03d}"} for i in range(count)]
    print("started", flush=True)
    testcases.run(settings, "crash", inputs, concurrency, "STANDARD")


def resume(home: Path, concurrency: int) -> None:
    from scones.config import load_settings
    from scones.workflow import standard

    _stubs(home / "invocations.log")
    resumed = standard.resume_orphans(load_settings(home=home), concurrency)
    print(json.dumps({"resumed": len(resumed)}), flush=True)


def _invocations(home: Path) -> list[tuple[int, str, str]]:
    lines = (home / "invocations.log").read_text().split("\n")
    return [(int(p), key, fn) for p, key, fn in (line.split() for line in lines if line.strip())]


def _finished_steps(home: Path) -> set[tuple[str, str]]:
    """(execution key, function) of every step DBOS had recorded as finished."""
    dbos = sqlite3.connect(home / "executions.sqlite")
    state = sqlite3.connect(home / "state.db")
    keys = {arn: json.loads(inp)["s3_key"] for arn, inp in state.execute("SELECT arn, input FROM executions")}
    rows = dbos.execute("SELECT workflow_uuid, function_name FROM operation_outputs")
    return {(keys[arn], name.split(":", 1)[1]) for arn, name in rows if arn in keys and name.startswith("lambda:")}


def orchestrate(home: Path, count: int, concurrency: int, kill_after: int) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SCONES_HOME": str(home)}
    me = [sys.executable, __file__, "--home", str(home), "--count", str(count), "--concurrency", str(concurrency)]
    runner = subprocess.Popen([*me, "--mode", "run"], env=env, stdout=subprocess.PIPE, text=True)
    log = home / "invocations.log"
    deadline = time.monotonic() + 120
    while (not log.exists() or len(log.read_text().splitlines()) < kill_after) and time.monotonic() < deadline:
        if runner.poll() is not None:
            raise SystemExit("the runner finished before it could be killed; raise --count")
        time.sleep(0.01)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    before = _invocations(home)
    finished_before = _finished_steps(home)
    state = sqlite3.connect(home / "state.db")
    done_before = state.execute("SELECT COUNT(*) FROM executions WHERE status='SUCCEEDED'").fetchone()[0]
    started = time.monotonic()
    resumed = subprocess.run([*me, "--mode", "resume"], env=env, capture_output=True, text=True, check=True)
    resume_seconds = time.monotonic() - started
    after = [i for i in _invocations(home) if i[0] != runner.pid]
    statuses = dict(state.execute("SELECT status, COUNT(*) FROM executions GROUP BY status").fetchall())
    reran_finished = sorted({(k, f) for _, k, f in after} & finished_before)
    calls = Counter((k, f) for _, k, f in _invocations(home))
    return {
        "count": count,
        "killed_after_invocations": len(before),
        "succeeded_before_crash": done_before,
        "steps_finished_before_crash": len(finished_before),
        "resumed": json.loads(resumed.stdout.strip().splitlines()[-1])["resumed"],
        "invocations_after_restart": len(after),
        "statuses_after": statuses,
        "finished_steps_run_again": len(reran_finished),
        "in_flight_steps_run_again": sum(1 for n in calls.values() if n > 1),
        "every_step_ran": len(calls) == count * len(FUNCTIONS),
        "resume_seconds": round(resume_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("orchestrate", "run", "resume"), default="orchestrate")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kill-after", type=int, default=None, help="invocations before the kill (default count)")
    args = parser.parse_args()
    if args.mode == "run":
        run(args.home, args.count, args.concurrency)
    elif args.mode == "resume":
        resume(args.home, args.concurrency)
    else:
        import tempfile

        home = args.home or Path(tempfile.mkdtemp(prefix="scones-crash-")) / "home"
        result = orchestrate(home, args.count, args.concurrency, args.kill_after or args.count)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
