"""Does uvicorn's httptools + uvloop pay for itself on the scones endpoint? (stage 2b)

    .venv/bin/python bench/endpoint_http_bench.py [--rounds 5]

Two servers of the same App (the tiny test model, so HTTP handling dominates the cost), one on
h11 + asyncio and one on httptools + uvloop, loaded alternately at concurrency 8 for 3 s per
round by endpoint_bench's asyncio client in its own process; medians over rounds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)

SERVER = """
import sys, uvicorn
sys.path.insert(0, sys.argv[4])
from scones.config import load_settings
from scones.endpoint.app import App
from scones.endpoint.service import EndpointConfig
from tests.helpers import tiny_artifact
http, loop, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = App(tiny_artifact(), EndpointConfig(port=port), load_settings())
uvicorn.run(app, host="127.0.0.1", port=port, http=http, loop=loop, log_level="warning", access_log=False)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from scones.config import environ_with

    env = environ_with(PYTHONPATH=str(REPO / "src"))
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    for label, http, loop in (("h11 + asyncio", "h11", "asyncio"), ("httptools + uvloop", "httptools", "uvloop")):
        port = eb.free_port()
        command = [sys.executable, "-c", SERVER, http, loop, str(port), str(REPO)]
        servers[label] = (port, subprocess.Popen(command, env=env))
    results: dict[str, list[dict[str, float]]] = {label: [] for label in servers}
    try:
        for port, process in servers.values():
            eb.wait_ready(port, process)
        for _ in range(args.rounds):
            for label, (port, _) in servers.items():
                results[label].append(eb.load_once(port, 8, 3.0, env))
                print(f"{label:20} {results[label][-1]['rps']:7.0f} req/s", flush=True)
    finally:
        for _, process in servers.values():
            process.terminate()
    for label, runs in results.items():
        rps = float(np.median([r["rps"] for r in runs]))
        p50 = float(np.median([r["p50_ms"] for r in runs]))
        print(f"median {label:20} {rps:7.0f} req/s  p50 {p50:.2f} ms")


if __name__ == "__main__":
    main()
