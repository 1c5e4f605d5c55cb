"""Scaling on one machine: endpoint workers, and switching the model under load.

    .venv/bin/python bench/scale_bench.py [--seconds 4] [--rounds 3] [--concurrency 1,8,64]

1. Workers: `scones serve` with 1 worker (ORT on all cores) and with 2 workers (1 ORT thread
   each, and all cores each), all up at once, measured in interleaved rounds with the load
   generator of bench/endpoint_bench.py (ResNet-20 ONNX, the real 32x32 PNGs); medians.
2. update-endpoint under load: a registered endpoint (2 workers) serves model A under 16
   concurrent clients; `update_endpoint` switches it to B and back to A while the load runs.
   Reports failed requests (the target is 0), throughput and how long each switch took.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import endpoint_bench as eb  # noqa: E402  (the load generator and model builder are shared)


def workers(model: Path, env: dict[str, str], levels: list[int], seconds: float, rounds: int) -> dict[str, Any]:
    scones = [sys.executable, "-c", "from scones.cli import main; main()", "serve", "--model", str(model)]
    configs = {
        "1 worker (ORT threads = cores)": scones,
        "2 workers x 1 ORT thread": [*scones, "--workers", "2", "--threads", "1"],
        "2 workers x ORT threads = cores": [*scones, "--workers", "2"],
    }
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {label: {c: [] for c in levels} for label in configs}
    try:
        for label, command in configs.items():
            port = eb.free_port()
            servers[label] = (port, subprocess.Popen([*command, "--port", str(port)], env=env,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        for port, process in servers.values():
            eb.wait_ready(port, process)
        for round_number in range(rounds):
            for label, (port, _) in servers.items():
                for concurrency in levels:
                    result = eb.load_once(port, concurrency, seconds, env)
                    runs[label][concurrency].append(result)
                    print(f"round {round_number + 1} {label:34} c={concurrency:<3} {result['rps']:7.1f} req/s"
                          f"  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}", flush=True)  # fmt: skip
    finally:
        for _, process in servers.values():
            process.terminate()
        for _, process in servers.values():
            process.wait(60)
    return {label: [eb.combine(runs[label][c]) for c in levels] for label in configs}


def other_model(model: Path, target: Path) -> Path:
    """The same network under another producer name: a different sha256, so a real switch."""
    from dataclasses import replace

    import onnx

    from scones.model.artifact import Artifact, load, sha256

    artifact = load(str(model))
    proto = onnx.load_from_string(artifact.onnx)
    proto.producer_name = "scones-bench-b"
    data = proto.SerializeToString()
    target.write_bytes(Artifact(manifest=replace(artifact.manifest, model_sha256=sha256(data)), onnx=data).pack())
    return target


def update_under_load(workdir: Path, model: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    import shutil

    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.registry import update_endpoint
    from scones.endpoint.server import endpoint_config

    settings = load_settings(home=workdir / "home")
    model_b = other_model(model, workdir / "model-b.tar.gz")
    config = endpoint_config(settings, name="scale-bench", port=0, workers=2, capture_percent=0)
    record = registry.deploy(settings, config, str(model), timeout=120)
    port = int(record.url.rsplit(":", 1)[1])
    result: dict[str, Any] = {}
    switches: list[float] = []
    try:
        load_thread = threading.Thread(target=lambda: result.update(eb.load_once(port, 16, seconds * 3, env)))
        load_thread.start()
        time.sleep(seconds * 0.75)
        for target in (model_b, model):
            started = time.monotonic()
            update_endpoint(settings, "scale-bench", str(target), timeout=120)
            switches.append(round(time.monotonic() - started, 2))
            time.sleep(seconds * 0.5)
        load_thread.join()
    finally:
        registry.delete(settings, "scale-bench")
        shutil.rmtree(workdir / "home", ignore_errors=True)
    return {"requests_per_second": round(result["rps"], 1), "p99_ms": round(result["p99_ms"], 1),
            "failed_requests": result["errors"], "switch_seconds": switches}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8,64")
    args = parser.parse_args()
    from scones.config import environ_with

    workdir = Path(tempfile.mkdtemp(prefix="scones-scale-"))
    env = environ_with(SCONES_HOME=str(workdir / "serve-home"), PYTHONPATH=str(eb.REPO / "src"))
    model, _ = eb.build_model(workdir)
    print(f"cores: {len(os.sched_getaffinity(0))}", flush=True)
    levels = [int(c) for c in args.concurrency.split(",")]
    report = {"workers": workers(model, env, levels, args.seconds, args.rounds)}
    report["update_under_load"] = update_under_load(workdir, model, env, args.seconds)
    print("\nmedians over rounds")
    for label, rows in report["workers"].items():
        print(f"  {label:34} " + "  ".join(f"c={r['concurrency']}: {r['rps']:.0f} req/s p99 {r['p99_ms']:.1f} ms"
                                           for r in rows))  # fmt: skip
    print(f"update-endpoint under load: {report['update_under_load']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
