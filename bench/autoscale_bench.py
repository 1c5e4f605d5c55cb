"""Target tracking under a load step: 1 -> 8 -> 64 -> 1 concurrent clients.

    .venv/bin/python bench/autoscale_bench.py [--steps 1:20,8:30,64:30,1:40] [--target 20000]
        [--threads 0] [--max-workers 4]

A registered endpoint (`scones deploy`, ResNet-20 from endpoint_bench.py, capture off) starts
with 1 worker and may grow to --max-workers, holding --target invocations per worker per minute
(scale out after --scale-out-seconds above it, in after --scale-in-seconds below it). An asyncio
HTTP/1.1 client sends the real 32x32 PNGs at each step's concurrency; a response with
`Connection: close` (a worker leaving) makes that client reconnect, as HTTP/1.1 clients do, and
any request that gets no 200 is a failure. Reports per step: requests, failures, throughput,
p50 and p99, the workers at its end; and every scaling event with its time since the step began.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)


async def _client(
    port: int, bodies: list[bytes], offset: int, stop: float, out: list[tuple[float, float, bool]]
) -> None:
    i, reader, writer = offset, None, None
    while (started := time.perf_counter()) < stop:
        body = bodies[i % len(bodies)]
        i += 1
        ok, close = False, True
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(body)
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line[15:])
                elif lower.startswith(b"connection:") and b"close" in lower:
                    close = True
            await reader.readexactly(length)
            ok = head[9:12] == b"200"
        except (OSError, asyncio.IncompleteReadError):
            close = True
        out.append((started, time.perf_counter() - started, ok))
        if close and writer is not None:
            writer.close()
            reader, writer = None, None
    if writer is not None:
        writer.close()


async def _steps(port: int, images: list[bytes], steps: list[tuple[int, float]], out: list[Any]) -> list[float]:
    bodies = [
        f"POST /invocations HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: image/png\r\n"
        f"content-length: {len(b)}\r\n\r\n".encode() + b
        for b in images
    ]  # fmt: skip
    starts = []
    for concurrency, seconds in steps:
        starts.append(time.perf_counter())
        stop = starts[-1] + seconds
        await asyncio.gather(*(_client(port, bodies, k * 37, stop, out) for k in range(concurrency)))
    return starts


def run(workdir: Path, steps: list[tuple[int, float]], args: argparse.Namespace) -> dict[str, Any]:
    from scones.config import ensure_home, load_settings
    from scones.endpoint import registry, table
    from scones.endpoint.server import endpoint_config

    model, _ = eb.build_model(workdir)
    settings = load_settings(home=workdir / "home")
    ensure_home(settings)
    config = endpoint_config(
        settings, name="bench-autoscale", port=0, workers=1, max_workers=args.max_workers, capture_percent=0,
        target_invocations_per_worker=args.target, scale_out_seconds=args.scale_out_seconds,
        scale_in_seconds=args.scale_in_seconds, threads=args.threads,
    )  # fmt: skip
    record = registry.deploy(settings, config, str(model), timeout=120)
    out: list[tuple[float, float, bool]] = []
    wall0, perf0 = time.time(), time.perf_counter()
    try:
        starts = asyncio.run(_steps(int(record.config["port"]), eb.load_images(), steps, out))
        with closing(table.connect(settings)) as conn:
            events = table.scaling_events(conn, "bench-autoscale")[::-1]
    finally:
        registry.delete(settings, "bench-autoscale")
    ends = [*starts[1:], starts[-1] + steps[-1][1]]

    def since_start(at: str) -> float:  # an event's ISO time on the perf_counter clock of the steps
        from datetime import datetime

        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - wall0 + perf0

    timeline = [{"at_s": round(since_start(e.at) - starts[0], 1), "from": e.from_workers, "to": e.to_workers,
                 **e.figures} for e in events]  # fmt: skip
    report = []
    for (concurrency, seconds), start, end in zip(steps, starts, ends, strict=True):
        mine = [(t, ok) for sent, t, ok in out if start <= sent < end]
        latencies = np.array([t for t, ok in mine if ok] or [float("nan")])
        during = [e for e in timeline if start - starts[0] <= e["at_s"] < end - starts[0]]
        report.append({
            "concurrency": concurrency, "seconds": seconds, "requests": len(mine),
            "failed": sum(1 for _, ok in mine if not ok), "rps": round(len(mine) / seconds, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
            "first_scaling_after_s": round(during[0]["at_s"] - (start - starts[0]), 1) if during else None,
        })  # fmt: skip
    return {
        "target_invocations_per_worker_per_minute": args.target, "max_workers": args.max_workers,
        "scale_out_seconds": args.scale_out_seconds, "scale_in_seconds": args.scale_in_seconds,
        "threads_per_worker": args.threads, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "steps": report, "events": timeline,
        "failed_total": sum(1 for *_, ok in out if not ok), "requests_total": len(out),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="1:20,8:30,64:30,1:40", help="CONCURRENCY:SECONDS, in order")
    parser.add_argument("--target", type=float, default=20000.0, help="invocations per worker per minute")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--scale-out-seconds", type=float, default=5.0)
    parser.add_argument("--scale-in-seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per worker (0: every core)")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    steps = [(int(c), float(s)) for c, s in (part.split(":") for part in args.steps.split(","))]
    workdir = Path(tempfile.mkdtemp(prefix="scones-autoscale-bench-"))
    try:
        report = run(workdir, steps, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
