"""Stage 3: where an EXPRESS execution's time goes, in one process and one thread.

    .venv/bin/python bench/workflow_profile.py cost [--count 1500] [--image-bytes 3000]
    .venv/bin/python bench/workflow_profile.py profile [--count 1000] [--image-bytes 0]
    .venv/bin/python bench/workflow_profile.py split [--count 300]

- cost: executions of the seed's pipeline with stand-in handlers (their answer carries a
  base64 image of --image-bytes, 0 for none) per CPU-second of this process, which the load
  of a shared machine moves less than wall clock.
- profile: the same under cProfile on `time.process_time` (the CPU, not the waits).
- split: a real endpoint (a separate process serving the default model with random weights)
  and the real functions on local files; each of --count executions is timed beside one
  `classify` call of its own to the same endpoint, interleaved, so the load affects both
  alike. The ratio of the medians bounds run-testcases' rate against the endpoint's at
  concurrency 1.

Compare two versions of the code by running this file with `PYTHONPATH=<other>/src`.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # endpoint_bench: its model and images


def _stand_ins(image_bytes: int) -> None:
    from scones.functions import NAMES, runtime

    image = base64.b64encode(os.urandom(image_bytes)).decode("ascii")

    def handler(event: Any, context: Any) -> Any:
        body = event.get("body", event)
        return {
            "statusCode": 200,
            "body": {**body, **({"image_data": image} if image else {}), "inferences": [0.99, 0.01]},
        }

    for name in NAMES:
        runtime.use(name, handler)


def _batch(settings: Any, machine: Any, inputs: list[Any]) -> list[Any]:
    from scones.workflow import executions

    prepared = [executions.prepare(settings, machine.name, v, type_="EXPRESS", machine=machine) for v in inputs]
    return [executions.run(settings, e, record=False, machine=machine) for e in prepared]


def cost(count: int, image_bytes: int, profile: bool) -> None:
    from scones.config import load_settings
    from scones.workflow import machines

    _stand_ins(image_bytes)
    settings = load_settings(home=Path(tempfile.mkdtemp(prefix="scones-profile-")))
    machines.create(settings, "bench", machines.pipeline_definition())
    machine = machines.get(settings, "bench")
    inputs = [{"s3_bucket": "scones", "s3_key": f"case-{i}"} for i in range(count)]
    _batch(settings, machine, inputs[:50])  # warm: parse, caches, first log write
    if profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(_batch, settings, machine, inputs)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        return
    cpu, wall = time.process_time(), time.perf_counter()
    _batch(settings, machine, inputs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"executions per CPU-second {count / cpu:.0f}, per second {count / wall:.0f}, load {os.getloadavg()[0]:.1f}")


def split(count: int) -> None:
    import endpoint_bench
    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.server import endpoint_config
    from scones.storage import Store
    from scones.workflow import executions, machines, testcases

    home = Path(tempfile.mkdtemp(prefix="scones-profile-"))
    settings = load_settings(home=home)
    store = Store(settings)
    model = endpoint_bench.build_model(home)[0]
    store.put(settings.bucket, "models/bench/model.tar.gz", model.read_bytes())
    for i, picture in enumerate(sorted(endpoint_bench.IMAGES.glob("*.png"))[:200]):
        store.put(settings.bucket, f"data/test/img_{i:03d}.png", picture.read_bytes())
    config = endpoint_config(settings, name=settings.endpoint_name, port=0, capture_percent=0)
    registry.deploy(settings, config, f"s3://{settings.bucket}/models/bench/model.tar.gz")
    try:
        machines.create(settings, "pipeline", machines.pipeline_definition())
        machine = machines.get(settings, "pipeline")
        _batch(settings, machine, testcases.generate(store, 30, seed=1))  # warm
        image = (home / "buckets" / settings.bucket / "data/test/img_000.png").read_bytes()
        # The bare call: one kept-alive http.client connection, the client the classify function uses.
        url = urlsplit(registry.describe(settings, settings.endpoint_name).url)
        connection = http.client.HTTPConnection(url.hostname, url.port)
        path = f"/endpoints/{settings.endpoint_name}/invocations"
        headers = {"Content-Type": "image/png", "Accept": "application/json"}
        inputs = testcases.generate(store, count, seed=3)
        prepared = [executions.prepare(settings, "pipeline", v, type_="EXPRESS", machine=machine) for v in inputs]
        calls, runs, cpus = [], [], []
        for execution in prepared:
            began = time.perf_counter()
            connection.request("POST", path, body=image, headers=headers)
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
            calls.append(time.perf_counter() - began)
            began, cpu = time.perf_counter(), time.process_time()
            executions.run(settings, execution, record=False, machine=machine)
            runs.append(time.perf_counter() - began)
            cpus.append(time.process_time() - cpu)
        call, run, cpu = (statistics.median(v) * 1000 for v in (calls, runs, cpus))
        print(
            f"p50 ms: endpoint call {call:.2f}, execution {run:.2f}, execution CPU {cpu:.2f}; "
            f"call/execution {call / run:.2f}; load {os.getloadavg()[0]:.1f}"
        )
    finally:
        registry.delete(settings, settings.endpoint_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cost", "profile", "split"))
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--image-bytes", type=int, default=3000, help="stand-ins: bytes of the image they answer")
    args = parser.parse_args()
    if args.mode == "split":
        split(args.count or 300)
    else:
        cost(args.count or (1000 if args.mode == "profile" else 1500), args.image_bytes, args.mode == "profile")


if __name__ == "__main__":
    main()
