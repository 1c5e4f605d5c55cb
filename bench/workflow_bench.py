"""Stage 3 benchmarks: engine overhead per execution, and the pipeline end to end against a real endpoint.

    .venv/bin/python bench/workflow_bench.py [--count 1000] [--concurrency 8] [--levels 1,4,8] [--model M]

1. Engine overhead: the seed's pipeline with stand-in handlers (no I/O), EXPRESS and STANDARD,
   in one process and in two processes at once (the GIL caps one process at one core; each
   process has its own home, as two runners on one machine would).
2. End to end: a real scones endpoint (a separate process serving --model, by default the
   default ResNet with random weights, which serves exactly as fast as a trained one) and the
   real functions on local files. At each concurrency C of --levels, alternating --rounds
   times: the endpoint's own throughput measured by stage 2b's keep-alive load generator (its
   own process, 3 s after a warm-up), then run-testcases EXPRESS of --e2e-count executions
   (default 1500: about as many seconds of work, so starting the runner processes and their
   first connections weighs on the figure about as little as the load generator's warm-up) at
   the same C. Target: workflow >= 50% of the endpoint's throughput (the median of the rounds'
   ratios).
The crash test is bench/workflow_crash.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # endpoint_bench: its model, images and load generator


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
    testcases.run(settings, "bench", warm, concurrency, type_, processes=1)
    inputs = [{"s3_bucket": "scones", "s3_key": f"case-{i}"} for i in range(count)]
    started, cpu = time.time(), time.process_time()
    summary = testcases.run(settings, "bench", inputs, concurrency, type_, processes=1)  # stand-ins live here
    cpu = time.process_time() - cpu  # the machine is shared: executions per CPU-second count its load less
    return {
        "type": type_,
        "count": count,
        "concurrency": concurrency,
        "per_second": summary.throughput_per_second,
        "per_cpu_second": round(count / cpu, 1),
        "cpu_seconds": round(cpu, 3),
        "p50_ms": summary.latency_ms["p50"],
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "examples": summary.examples,
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
        "count": sum(r["count"] for r in results),
        "per_second": round(sum(r["count"] for r in results) / wall, 1),
        # two processes on two cores: twice one process's executions per CPU-second, if each had a core
        "per_cpu_second": round(sum(r["count"] for r in results) / sum(r["cpu_seconds"] for r in results) * 2, 1),
        "succeeded": sum(r["succeeded"] for r in results),
    }


def end_to_end(
    home: Path, count: int, levels: list[int], rounds: int, model: Path | None = None, images: Path | None = None
) -> dict[str, Any]:
    """The endpoint alone vs run-testcases through it, alternating, `rounds` times per concurrency."""
    from urllib.parse import urlsplit

    import endpoint_bench
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
    if model is None:  # the default ResNet with random weights: serving speed does not depend on them
        model = endpoint_bench.build_model(home)[0]
    store.put(settings.bucket, "models/bench/model.tar.gz", model.read_bytes())
    folder = images or endpoint_bench.IMAGES
    pictures = [p.read_bytes() for p in sorted(folder.glob("*.png"))[:200]] or endpoint_bench.load_images()[:200]
    for i, picture in enumerate(pictures):  # the same images the endpoint's own load generator sends
        store.put(settings.bucket, f"data/test/img_{i:03d}.png", picture)
    config = endpoint_config(settings, name=settings.endpoint_name, port=0, capture_percent=0)
    record = registry.deploy(settings, config, f"s3://{settings.bucket}/models/bench/model.tar.gz")
    port = urlsplit(record.url).port or 80
    results: dict[str, Any] = {"model": str(model), "images": str(folder), "count": count, "levels": {}}
    try:
        machines.create(settings, "pipeline", machines.pipeline_definition())
        testcases.run(settings, "pipeline", testcases.generate(store, 20, seed=1), 4, "EXPRESS")  # warm up
        for concurrency in levels:
            alone, workflow, last = [], [], None
            for r in range(rounds):
                # the endpoint bench's keep-alive load generator, in its own process (as in stage 2b)
                alone.append(endpoint_bench.load_once(port, concurrency, 3.0, dict(os.environ))["rps"])
                inputs = testcases.generate(store, count, seed=100 + r)
                last = testcases.run(settings, "pipeline", inputs, concurrency, "EXPRESS")
                workflow.append(last.throughput_per_second)
            ratios = [w / a for w, a in zip(workflow, alone, strict=True)]
            results["levels"][concurrency] = {
                "endpoint_per_second": [round(a, 1) for a in alone],
                "workflow_per_second": workflow,
                "ratios": [round(x, 2) for x in ratios],
                "median_ratio": round(statistics.median(ratios), 2),
                "last_round": {"succeeded": last.succeeded, "failed": last.failed, "latency_ms": last.latency_ms}
                if last
                else {},
            }
    finally:
        registry.delete(settings, settings.endpoint_name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("all", "overhead", "overhead-2", "end-to-end"), default="all")
    parser.add_argument("--type", default="EXPRESS")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="of the overhead runs")
    parser.add_argument("--levels", default="1,4,8", help="concurrencies of the end-to-end comparison")
    parser.add_argument("--rounds", type=int, default=3, help="end to end: alternating rounds per concurrency")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None, help="model.tar.gz for the end-to-end endpoint")
    parser.add_argument("--images", type=Path, default=None, help="folder of PNG test images (end to end)")
    parser.add_argument("--e2e-count", type=int, default=1500, help="executions per end-to-end round")
    args = parser.parse_args()
    concurrency = args.concurrency
    levels = [int(v) for v in args.levels.split(",")]
    if args.mode == "overhead":
        print(json.dumps(overhead(args.home, args.type, args.count, concurrency)))
        return
    if args.mode == "overhead-2":  # the engine overhead in two processes at once, as on two cores
        print(json.dumps(two_processes(args.type, args.count, concurrency)))
        return
    if args.mode == "end-to-end":
        home = Path(tempfile.mkdtemp(prefix="scones-bench-"))
        print(json.dumps(end_to_end(home, args.e2e_count, levels, args.rounds, args.model, args.images), indent=2))
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
    results["end_to_end"] = end_to_end(home, args.e2e_count, levels, args.rounds, args.model, args.images)
    results["load_after"] = os.getloadavg()[0]
    for key in ("overhead_express", "overhead_standard"):
        results[key].pop("start"), results[key].pop("end")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
