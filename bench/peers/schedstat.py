"""Where one server's threads spend a load point: running, or runnable and waiting for a CPU.

    python bench/peers/schedstat.py SERVER --model model.tar.gz [--concurrency 64] [--seconds 8]

SERVER is `scones`, `scones-2w` or one of run.py's peers (its venv must exist: run.py creates them). The
server starts alone, as run.py starts it (its own session, so its own scheduler autogroup),
gets a 2 s warm-up and then one load point from `load.py`. Before and after the point, every
thread of the server's process tree is read from `/proc/PID/task/TID/schedstat` (nanoseconds
on a CPU, nanoseconds runnable but waiting in a run queue, time slices). Printed per thread,
as fractions of the wall time: running, waiting for a CPU, and slices per second.

Why: on the shared machine the req/s of a server is mostly the CPU share the kernel gives its
process tree; this says how much of the time its threads wanted a CPU and did not get one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import run  # noqa: E402 - how the comparison starts, checks and stops each server

import endpoint_bench  # noqa: E402 - the images and free_port


def thread_stats(root: int) -> dict[tuple[int, int], tuple[float, float, int]]:
    """(pid, tid) -> (seconds on a CPU, seconds waiting for one, slices) for a process tree."""
    parents, _ = run._processes()
    stats: dict[tuple[int, int], tuple[float, float, int]] = {}
    for pid in run.tree(root, parents):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:  # ended meanwhile
            continue
        for tid in tids:
            try:
                on_cpu, waiting, slices = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            except OSError:
                continue
            stats[(pid, int(tid))] = (int(on_cpu) / 1e9, int(waiting) / 1e9, int(slices))
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server", choices=[*run.SCONES, *run.PEERS])
    parser.add_argument("--model", type=Path, required=True, help="model.tar.gz")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "scones-peers-venvs")
    args = parser.parse_args()
    from scones.config import environ_with

    workdir = Path(tempfile.mkdtemp(prefix="scones-schedstat-"))
    spec = run.write_spec(args.model, workdir)
    env = environ_with(SCONES_HOME=str(workdir / "home"), PYTHONPATH=str(run.REPO / "src"), PEERS_SPEC=str(spec))
    python = run.ensure_venv(args.venvs, args.server) if args.server in run.PEERS else Path(sys.executable)
    route = run.PEERS[args.server][1:] if args.server in run.PEERS else ("/invocations", "png")
    port = endpoint_bench.free_port()
    command = run.command(args.server, python, port, args.model)
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet, start_new_session=True)
    try:
        run.wait_ready(args.server, port, *route, process, endpoint_bench.load_images()[0])
        run.load_once(port, *route, args.concurrency, 2)  # warm-up
        before, started = thread_stats(process.pid), time.monotonic()
        result = run.load_once(port, *route, args.concurrency, args.seconds)
        after, wall = thread_stats(process.pid), time.monotonic() - started
    finally:
        run.stop([(port, process)])
    print(f"{args.server} c={args.concurrency}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    running = waiting = 0.0
    rows = []
    for key, (on_cpu, queued, slices) in after.items():
        was = before.get(key, (0.0, 0.0, 0))
        rows.append((key, on_cpu - was[0], queued - was[1], slices - was[2]))
    for (pid, tid), on_cpu, queued, slices in sorted(rows, key=lambda row: -row[1]):
        running, waiting = running + on_cpu, waiting + queued
        if on_cpu + queued >= 0.01 * wall:  # the threads that did something
            print(f"  pid {pid:>7} tid {tid:>7}  running {on_cpu / wall:5.2f}  waiting for a CPU {queued / wall:5.2f}"
                  f"  slices/s {slices / wall:6.0f}")  # fmt: skip
    print(f"  all threads: running {running / wall:.2f} CPUs, waiting for a CPU {waiting / wall:.2f}")


if __name__ == "__main__":
    main()
