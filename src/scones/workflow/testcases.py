"""Test cases: the seed's `generate_test_case`, and running many of them through a state machine.

`generate` picks random objects under the bucket's test prefix and shapes each as the first
function's input. `run` starts one execution per input with bounded concurrency and returns
a summary: succeeded, failed by error name, latency percentiles and throughput.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from scones.config import Settings
from scones.errors import WorkflowError
from scones.progress import NullProgress, Progress
from scones.storage import Store
from scones.workflow import executions
from scones.workflow.records import Execution

TEST_PREFIX = "data/test"  # stage 1's layout: <prefix>/test/*.png
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def generate(store: Store, count: int, seed: int | None = None, prefix: str = TEST_PREFIX) -> list[dict[str, str]]:
    """`count` execution inputs, each a random image under `s3://<bucket>/<prefix>/`."""
    if count < 1:
        raise WorkflowError(f"--count must be at least 1, got {count}")
    bucket = store.settings.bucket
    keys = sorted(o.key for o in store.list(bucket, prefix) if o.key.lower().endswith(IMAGE_SUFFIXES))
    if not keys:
        raise WorkflowError(f"No images under s3://{bucket}/{prefix}/; run 'scones stage' first")
    rng = random.Random(seed)  # noqa: S311 - test-case sampling, not security
    return [{"image_data": "", "s3_bucket": bucket, "s3_key": rng.choice(keys)} for _ in range(count)]


@dataclass
class Summary:
    """What a batch of executions did."""

    executions: int
    succeeded: int
    failed: dict[str, int]
    latency_ms: dict[str, float]
    wall_seconds: float
    throughput_per_second: float
    type: str
    concurrency: int
    examples: dict[str, str] = field(default_factory=dict)  # error name -> one execution ARN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 2)}


def _warm_up(settings: Settings, type_: str) -> None:
    """Load the interpreter (and launch DBOS) before the clock starts: a one-off per process."""
    from scones.workflow import engine

    engine.install()
    if type_ == "STANDARD":
        from scones.workflow import durable

        durable.ensure(settings)


def run(
    settings: Settings,
    machine: str,
    inputs: Sequence[Any],
    concurrency: int = 4,
    type_: str = "EXPRESS",
    progress: Progress | None = None,
) -> Summary:
    """Start one execution per input (at most `concurrency` at a time) and summarise them."""
    if concurrency < 1:
        raise WorkflowError(f"--concurrency must be at least 1, got {concurrency}")
    progress = progress or NullProgress()
    progress.start(f"executions of {machine}", len(inputs))

    prepared = [executions.prepare(settings, machine, value, type_=type_) for value in inputs]
    _warm_up(settings, type_)

    def one(execution: Execution) -> tuple[str, str | None, float]:
        started = time.perf_counter()
        execution = executions.run(settings, execution)
        progress.advance(1)
        failure = None if execution.status == "SUCCEEDED" else (execution.error or execution.status)
        return execution.arn, failure, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, prepared))
    wall = time.perf_counter() - started
    failures = Counter(error for _, error, _ in results if error is not None)
    examples: dict[str, str] = {}
    for arn, error, _ in results:
        if error is not None:
            examples.setdefault(error, arn)
    return Summary(
        executions=len(results),
        succeeded=sum(1 for _, error, _ in results if error is None),
        failed=dict(failures.most_common()),
        latency_ms=percentiles([seconds * 1000 for _, _, seconds in results]),
        wall_seconds=round(wall, 3),
        throughput_per_second=round(len(results) / wall, 1) if wall > 0 else 0.0,
        type=type_,
        concurrency=concurrency,
        examples=examples,
    )
