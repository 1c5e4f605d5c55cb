"""Test cases: the seed's `generate_test_case`, and running many of them through a state machine.

`generate` picks random objects under the bucket's test prefix and shapes each as the first
function's input. `run` starts one execution per input with bounded concurrency and returns
a summary: succeeded, failed by error name, latency percentiles and throughput.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from scones.config import Settings
from scones.errors import WorkflowError
from scones.functions import runtime
from scones.progress import NullProgress, Progress
from scones.storage import Store
from scones.workflow import executions, machines, records
from scones.workflow.machines import StateMachine
from scones.workflow.records import Execution

TEST_PREFIX = "data/test"  # stage 1's layout: <prefix>/test/*.png
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Each case is a dict in memory and, run, an execution: far more than a load test needs is a typo.
MAX_COUNT = 100_000


def generate(store: Store, count: int, seed: int | None = None, prefix: str = TEST_PREFIX) -> list[dict[str, str]]:
    """`count` execution inputs, each a random image under `s3://<bucket>/<prefix>/`."""
    if count < 1:
        raise WorkflowError(f"--count must be at least 1, got {count}")
    if count > MAX_COUNT:
        raise WorkflowError(f"--count {count} is more than {MAX_COUNT} test cases; run batches of at most {MAX_COUNT}")
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
        from scones.workflow import launcher

        launcher.ensure(settings)


def check_options(concurrency: int, processes: int | None) -> None:
    if concurrency < 1:
        raise WorkflowError(f"--concurrency must be at least 1, got {concurrency}")
    if processes is not None and processes < 1:
        raise WorkflowError(f"--processes must be at least 1, got {processes}")


def run(
    settings: Settings,
    machine: str,
    inputs: Sequence[Any],
    concurrency: int = 4,
    type_: str = "EXPRESS",
    progress: Progress | None = None,
    processes: int | None = None,
) -> Summary:
    """Start one execution per input (at most `concurrency` at a time) and summarise them.

    EXPRESS executions are spread over `processes` runner processes (default: one per core, at
    most one per concurrent execution): the interpreter holds the GIL for most of an execution,
    so one process cannot use a second core. Runners run scones' own functions, so stand-ins
    installed with `runtime.use` keep the default to this process. STANDARD executions run in
    this process, whose DBOS instance makes them durable.
    """
    check_options(concurrency, processes)
    progress = progress or NullProgress()
    progress.start(f"executions of {machine}", len(inputs))

    # Looked up once: a batch runs the definition it started with, and reading the state
    # database for every execution cost each one a query.
    found = machines.get(settings, machine)
    prepared = [executions.prepare(settings, machine, value, type_=type_, machine=found) for value in inputs]
    if type_ != "EXPRESS":
        processes = 1
    elif processes is None:
        processes = 1 if runtime.stand_ins() else min(len(os.sched_getaffinity(0)), concurrency)
    processes = max(1, min(processes, concurrency, len(prepared)))
    if processes > 1:
        start_runners()  # the fork server imports while this process does below
    _warm_up(settings, type_)

    started = time.perf_counter()
    if processes == 1:
        results = _in_threads(settings, found, prepared, concurrency, progress.advance)
    else:
        results = _in_processes(settings, found, prepared, concurrency, processes, progress.advance)
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


Result = tuple[str, str | None, float]  # execution ARN, error name or None, seconds
T = TypeVar("T")
_DONE = object()
_context: Any = None
_PRELOAD = [  # what every runner needs, imported once in the fork server
    "scones.workflow.testcases",
    "moto.stepfunctions.parser.asl.parse.asl_parser",
    "scones.functions.serialize_image_data",
    "scones.functions.classify_image",
    "scones.functions.filter_inferences",
]


def _runner_context() -> Any:
    """Runner processes fork from a fork server that has imported the interpreter once (~2 s, once
    per process): forking this process itself could copy a lock some other thread holds (SQLite,
    DBOS, the progress display) into a child that then waits on it forever."""
    global _context
    if _context is None:
        import multiprocessing

        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def start_runners() -> None:
    """Start the fork server now (it imports the interpreter), so the first run does not wait for it."""
    from multiprocessing import forkserver

    _runner_context()
    forkserver.ensure_running()


def _one(
    settings: Settings, machine: StateMachine, execution: Execution, record: bool = True
) -> tuple[Result, Execution]:
    started = time.perf_counter()
    execution = executions.run(settings, execution, record=record, machine=machine)
    failure = None if execution.status == "SUCCEEDED" else (execution.error or execution.status)
    return (execution.arn, failure, time.perf_counter() - started), execution


def _each(items: Sequence[T], threads: int, work: Callable[[T], None]) -> None:
    """Call `work` on every item from `threads` threads that take the next item as they finish one.

    No future per item: a pool's submit builds a Future and a Condition for each, and submitting
    thousands up front cost a runner a tenth of its time. A failure (or Ctrl-C) stops the threads
    taking new items and is raised here; executions already running finish.
    """
    pending = iter(items)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def loop() -> None:
        while not failures:
            with lock:
                item = next(pending, _DONE)
            if item is _DONE:
                return
            try:
                work(item)  # type: ignore[arg-type]  # not _DONE here
            except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                failures.append(exc)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(max(1, min(threads, len(items))))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except BaseException as exc:
        failures.append(exc)
        raise
    if failures:
        raise failures[0]


def _in_threads(
    settings: Settings,
    machine: StateMachine,
    prepared: Sequence[Execution],
    threads: int,
    advance: Callable[[int], None],
) -> list[Result]:
    batch = _Batch(settings)
    results: list[Result | None] = [None] * len(prepared)

    def one(index: int) -> None:
        execution = prepared[index]
        results[index], final = _one(settings, machine, execution, record=execution.type != "EXPRESS")
        if execution.type == "EXPRESS":
            batch.add(final)
        advance(1)

    try:
        _each(range(len(prepared)), threads, one)
    finally:
        batch.flush()
    return [result for result in results if result is not None]


class _Batch:
    """EXPRESS records stored a hundred to a transaction (STANDARD ones are stored as they run)."""

    def __init__(self, settings: Settings, size: int = 100) -> None:
        self.settings, self.size = settings, size
        self.pending: list[Execution] = []
        self.lock = threading.Lock()

    def add(self, execution: Execution) -> None:
        with self.lock:
            self.pending.append(execution)
            full = len(self.pending) >= self.size
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        if pending:
            records.insert_many(self.settings, pending)


def _in_processes(
    settings: Settings,
    machine: StateMachine,
    prepared: Sequence[Execution],
    concurrency: int,
    processes: int,
    advance: Callable[[int], None],
) -> list[Result]:
    """Run the executions in `processes` forked children, `concurrency` threads among them; each
    child sends its results up its own pipe (its end closes when it exits, however it exits)."""
    from multiprocessing.connection import wait

    from scones.workflow import engine

    context = _runner_context()
    program = engine.pickled_program(machine.definition)  # parsed once here, not in every runner
    children: dict[Any, Any] = {}  # the parent's end of each child's pipe -> the child
    for k in range(processes):
        threads = concurrency // processes + (1 if k < concurrency % processes else 0)
        chunk = list(prepared[k::processes])
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(settings, machine, program, chunk, threads, writer), daemon=True)
        child.start()
        writer.close()  # the child's copy is now the only one: EOF here when the child ends
        children[reader] = child
    results: list[Result] = []
    batch = _Batch(settings)  # the runners' records, stored here: one writer, few transactions
    open_pipes = list(children)
    try:
        while open_pipes and len(results) < len(prepared):
            ready: list[Any] = wait(open_pipes)
            for pipe in ready:
                try:
                    item = pipe.recv()
                except EOFError:
                    open_pipes.remove(pipe)
                    continue
                if item[0] == "error":
                    raise WorkflowError(f"A test-case runner process failed: {item[1]}")
                result, execution = item
                results.append(result)
                batch.add(execution)
                advance(1)
    finally:
        batch.flush()
        for pipe, child in children.items():
            if child.is_alive() and len(results) < len(prepared):
                child.terminate()
            child.join(timeout=10)
            pipe.close()
    if len(results) < len(prepared):
        codes = ", ".join(str(child.exitcode) for child in children.values())
        raise WorkflowError(
            f"{len(prepared) - len(results)} of {len(prepared)} executions did not report: a runner process "
            f"ended early (exit codes {codes}); see 'scones workflow list-executions' for those that finished"
        )
    return results


def _child(
    settings: Settings, machine: StateMachine, program: bytes, chunk: list[Execution], threads: int, pipe: Any
) -> None:
    sending = threading.Lock()

    def one(execution: Execution) -> None:
        item = _one(settings, machine, execution, False)
        with sending:
            pipe.send(item)

    try:
        from scones.workflow import engine

        engine.install()  # cheap here: the fork server has imported the interpreter
        engine.adopt_program(machine.definition, program)
        _each(chunk, threads, one)
    except Exception as exc:  # noqa: BLE001 - the process edge: the parent reports it in one line
        with sending:
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()
