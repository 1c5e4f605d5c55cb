"""Stage 3 benchmarks: engine overhead per execution, and the pipeline end to end against a real endpoint.

    .venv/bin/python bench/workflow_bench.py [--count 1000] [--concurrency 8]

1. Engine overhead: the seed's pipeline with stand-in handlers (no I/O), EXPRESS and STANDARD,
   in one process and in two processes at once (the GIL caps one process at one core; each
   process has its own home, as two runners on one machine would).
2. End to end: a real scones endpoint (a separate process serving the tiny test model) and the
   real functions on local files; the endpoint's own throughput at concurrency C, then
   run-testcases EXPRESS at the same C. Target: workflow >= 50% of the endpoint's throughput.
The crash test is bench/workflow_crash.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.helpers (tiny model, PNGs)


def _stub_handlers() -> None:
    from scones.functions import NAMES, runtime

    def handler(event: Any, context: Any) -> Any:
        body = event.get("body", event)
        return {"statusCode": 200, "body": {**body, "inferences": [0.99, 0.01]}}

    for name in NAMES:
        runtime.use(name, handler)


def overhead(home: Path, type_: str, count: int, concurrency: int) -> dict[str, Any]:
    from scones.config import load_settings
    from scones.workflow import machines, testcases

    settings = load_settings(home=home)
    _stub_handlers()
    machines.create(settings, "bench", machines.pipeline_definition())
    warm = [{"s3_bucket": "scones", "s3_key": f"warm-{i}"} for i in range(20)]
    testcases.run(settings, "bench", warm, concurrency, type_)
    inputs = [{"s3_bucket": "scones", "s3_key": f"case-{i}"} for i in range(count)]
    started = time.time()
    summary = testcases.run(settings, "bench", inputs, concurrency, type_)
    return {
        "type": type_,
        "count": count,
        "concurrency": concurrency,
        "per_second": summary.throughput_per_second,
        "p50_ms": summary.latency_ms["p50"],
        "succeeded": summary.succeeded,
        "start": started,
        "end": time.time(),
    }


def two_processes(type_: str, count: int, concurrency: int) -> dict[str, Any]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--mode",
                "overhead",
                "--type",
                type_,
                "--count",
                str(count // 2),
                "--concurrency",
                str(concurrency),
                "--home",
                tempfile.mkdtemp(prefix="scones-bench-"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "type": type_,
        "processes": 2,
        "count": count,
        "per_second": round(sum(r["count"] for r in results) / wall, 1),
        "succeeded": sum(r["succeeded"] for r in results),
    }


def end_to_end(
    home: Path, count: int, concurrency: int, model: Path | None = None, images: Path | None = None
) -> dict[str, Any]:
    from tests.helpers import png_bytes, tiny_artifact

    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.server import endpoint_config
    from scones.functions import NAMES, runtime
    from scones.storage import Store
    from scones.workflow import machines, testcases

    for name in NAMES:  # the real functions again (the overhead runs installed stand-ins)
        runtime.use(name, None)
    settings = load_settings(home=home)
    store = Store(settings)
    store.put(settings.bucket, "models/tiny/model.tar.gz", model.read_bytes() if model else tiny_artifact().pack())
    if images:  # real photos, e.g. ../shared/data/bike-moto/train
        for path in sorted(images.glob("*.png"))[:200]:
            store.put(settings.bucket, f"data/test/{path.name}", path.read_bytes())
    else:  # confident (red/blue) and unsure (grey) images for the tiny model
        for i in range(20):
            colour = [(200, 30, 30), (30, 30, 200), (128, 128, 128)][i % 3]
            store.put(settings.bucket, f"data/test/img_{i:02d}.png", png_bytes(colour))
    image = store.get(settings.bucket, next(iter(store.list(settings.bucket, "data/test"))).key)
    config = endpoint_config(settings, name=settings.endpoint_name, port=0, capture_percent=0)
    record = registry.deploy(settings, config, f"s3://{settings.bucket}/models/tiny/model.tar.gz")
    try:

        def post(_: int) -> None:
            request = urllib.request.Request(  # noqa: S310 - a loopback http URL
                record.url + "/invocations", data=image, headers={"Content-Type": "image/png"}, method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                response.read()

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, range(50)))  # warm up
            started = time.perf_counter()
            list(pool.map(post, range(count)))
        endpoint_rate = count / (time.perf_counter() - started)
        machines.create(settings, "pipeline", machines.pipeline_definition())
        testcases.run(settings, "pipeline", testcases.generate(store, 20, seed=1), concurrency, "EXPRESS")
        summary = testcases.run(settings, "pipeline", testcases.generate(store, count, seed=2), concurrency, "EXPRESS")
    finally:
        registry.delete(settings, settings.endpoint_name)
    return {
        "model": str(model or "tiny test model"),
        "images": str(images or "synthetic red/blue/grey"),
        "concurrency": concurrency,
        "endpoint_per_second": round(endpoint_rate, 1),
        "workflow_per_second": summary.throughput_per_second,
        "ratio": round(summary.throughput_per_second / endpoint_rate, 2),
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "latency_ms": summary.latency_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("all", "overhead", "end-to-end"), default="all")
    parser.add_argument("--type", default="EXPRESS")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None, help="default: 8 for the overhead, 4 end to end")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None, help="model.tar.gz for the end-to-end endpoint")
    parser.add_argument("--images", type=Path, default=None, help="folder of PNG test images (end to end)")
    args = parser.parse_args()
    concurrency = args.concurrency or 8
    e2e_concurrency = args.concurrency or 4
    if args.mode == "overhead":
        print(json.dumps(overhead(args.home, args.type, args.count, concurrency)))
        return
    if args.mode == "end-to-end":
        home = Path(tempfile.mkdtemp(prefix="scones-bench-"))
        print(json.dumps(end_to_end(home, 400, e2e_concurrency, args.model, args.images), indent=2))
        return
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    for type_, count in (("EXPRESS", args.count), ("STANDARD", max(100, args.count // 3))):
        home = Path(tempfile.mkdtemp(prefix="scones-bench-"))
        results[f"overhead_{type_.lower()}"] = overhead(home, type_, count, concurrency)
    results["overhead_express_2_processes"] = two_processes("EXPRESS", args.count, concurrency)
    results["overhead_standard_2_processes"] = two_processes("STANDARD", max(100, args.count // 3), concurrency)
    home = Path(tempfile.mkdtemp(prefix="scones-bench-"))
    results["end_to_end"] = end_to_end(home, 400, e2e_concurrency, args.model, args.images)
    results["load_after"] = os.getloadavg()[0]
    for key in ("overhead_express", "overhead_standard"):
        results[key].pop("start"), results[key].pop("end")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
