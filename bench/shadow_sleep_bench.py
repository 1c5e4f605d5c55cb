"""What a slow shadow costs production: a shadow that sleeps 2 s per request, beside no shadow.

    .venv/bin/python bench/shadow_sleep_bench.py [--seconds 6] [--rounds 3] [--concurrency 1,8]

Two endpoint processes serve the same ResNet-20 (endpoint_bench.py's model, one worker, capture
off) through scones' real App and uvicorn: `plain` has one variant; `slow-shadow` also has a
shadow variant mirroring 100% of requests whose every inference first sleeps 2 s (asyncio.sleep,
added by this script around the shadow's service: the stand-in for a slow model). Rounds are
interleaved; the figures are medians of production's p50 and p99 as endpoint_bench's client
sees them, and the shadow's dropped copies (beyond shadow.MAX_IN_FLIGHT waiting at once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)

SLEEP_SECONDS = 2.0


def serve(model: str, port: int, home: str, shadow: bool) -> None:
    """One endpoint process (the `server` subcommand)."""
    import uvicorn

    from scones.config import load_settings
    from scones.endpoint.app import App
    from scones.endpoint.server import endpoint_config
    from scones.model.artifact import load
    from scones.storage import Store

    settings = load_settings(home=home)
    artifact = load(model, Store(settings))
    config = endpoint_config(settings, name="bench", port=port, capture_percent=0)
    variants = [("AllTraffic", 1.0, artifact, False)] + ([("Slow", 1.0, artifact, True)] if shadow else [])

    class SlowShadowApp(App):
        def start(self) -> None:
            super().start()
            slot = self.router.shadow
            if slot is None or slot.service is None:
                return
            service, invoke = slot.service, slot.service.invoke

            async def slow(*args: Any, **kwargs: Any) -> tuple[bytes, str]:
                await asyncio.sleep(SLEEP_SECONDS)
                return await invoke(*args, **kwargs)

            service.invoke = slow  # type: ignore[method-assign]

    app = SlowShadowApp(artifact, config, settings, variants)
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="on", access_log=False, log_level="warning")


def dropped(port: int) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("scones_endpoint_requests_total") and 'status="dropped"' in line)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("server")
    server.add_argument("--model", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--home", required=True)
    server.add_argument("--shadow", action="store_true")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "server":
        serve(args.model, args.port, args.home, args.shadow)
        return
    workdir = Path(tempfile.mkdtemp(prefix="scones-shadow-sleep-"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    try:
        model, _ = eb.build_model(workdir)
        for shape in ("plain", "slow-shadow"):
            ports[shape] = eb.free_port()
            command = [sys.executable, __file__, "server", "--model", str(model), "--port", str(ports[shape]),
                       "--home", str(workdir / "home")] + (["--shadow"] if shape == "slow-shadow" else [])  # fmt: skip
            processes[shape] = subprocess.Popen(command, env=env)
            eb.wait_ready(ports[shape], processes[shape])
        levels = [int(c) for c in args.concurrency.split(",")]
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {s: {c: [] for c in levels} for s in ports}
        for _ in range(args.rounds):
            for c in levels:
                for shape in ports:
                    runs[shape][c].append(eb.load_once(ports[shape], c, args.seconds, env))
        report = {
            "seconds": args.seconds, "rounds": args.rounds, "shadow_sleep_seconds": SLEEP_SECONDS,
            "load_average": os.getloadavg(), "shadow_copies_dropped": dropped(ports["slow-shadow"]),
            "results": {shape: {str(c): {**eb.combine(runs[shape][c]),
                                         "rounds_p50_ms": [round(r["p50_ms"], 2) for r in runs[shape][c]]}
                                for c in levels} for shape in ports},
            "p50_added_ms": {str(c): round(float(np.median([s["p50_ms"] - p["p50_ms"] for p, s in
                                                            zip(runs["plain"][c], runs["slow-shadow"][c],
                                                                strict=True)])), 3) for c in levels},
        }  # fmt: skip
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
