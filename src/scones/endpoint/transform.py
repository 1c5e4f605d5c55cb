"""Batch transform: every image under an input prefix classified in one job, as SageMaker does.

For each input object `<in>/<name>` the job writes `<out>/<name>.out` holding the endpoint's
own answer (the same decode, preprocessing, model and JSON). It runs on all cores: a thread
pool reads and decodes images (Pillow and the store release the GIL) while ONNX Runtime runs
the previous batch on its own threads. It keeps only a bounded window of decoded images, so a
day of photos needs no more memory than a few batches. Re-running the same job skips inputs
whose `.out` already exists (a job stopped half-way finishes where it stopped); an input that
cannot be read or decoded is reported by name and the others carry on.

`run` is the public core, for `scones transform` and for the local AWS API's CreateTransformJob.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from scones.endpoint.predictor import Predictor, usable_cores
from scones.endpoint.service import JSON, JSONLINES, MAX_BODY_BYTES, format_output
from scones.errors import BadImage, ConfigError, ObjectNotFound
from scones.keys import join_key, parse_s3_uri, s3_uri
from scones.model.artifact import Artifact
from scones.model.preprocess import decode
from scones.progress import NullProgress, Progress
from scones.storage import ObjectInfo, Store

OUT_SUFFIX = ".out"  # SageMaker's name for a transform output: the input's name plus .out
DEFAULT_BATCH_SIZE = 8  # the endpoint's default max_batch_size, best per image for the ResNet on 2 cores


@dataclass(frozen=True)
class TransformResult:
    """What one run did.

    Attributes:
        inputs: objects found under the input prefix.
        written: `.out` files written by this run.
        skipped: inputs already answered by an earlier run (their `.out` exists).
        failed: (input name, reason) for every input that could not be classified; no `.out` for them.
        seconds: wall time of the run, listing included.
    """

    inputs: int
    written: int
    skipped: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "written": self.written,
            "skipped": self.skipped,
            "failed": [{"input": name, "reason": reason} for name, reason in self.failed],
            "seconds": round(self.seconds, 3),
        }


def run(
    store: Store,
    artifact: Artifact,
    input_uri: str,
    output_uri: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 0,
    accept: str = JSON,
    progress: Progress | None = None,
) -> TransformResult:
    """Classify every object under `input_uri` (s3://BUCKET/PREFIX/) into `output_uri`.

    `workers` threads read and decode (0: one per usable core); the model runs on all cores.
    Raises ConfigError for bad arguments before anything is written.
    """
    started = time.perf_counter()
    progress = progress or NullProgress()
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size} is invalid; give 1 or more")
    if workers < 0:
        raise ConfigError(f"--workers {workers} is invalid; give 0 (one per core) or more")
    if accept not in (JSON, JSONLINES):
        raise ConfigError(f"--accept {accept!r} is not supported; give {JSON} or {JSONLINES}")
    in_bucket, in_prefix = parse_s3_uri(input_uri)
    out_bucket, out_prefix = parse_s3_uri(output_uri)
    if in_bucket == out_bucket and _within(out_prefix, in_prefix):
        raise ConfigError(
            f"--output {output_uri} is inside --input {input_uri}; a re-run would read the answers as images: "
            "give an output prefix outside the input"
        )
    inputs = _inputs(store, in_bucket, in_prefix)
    if not inputs:
        raise ConfigError(f"No objects under {s3_uri(in_bucket, in_prefix)}; give the prefix that holds the images")
    done = {o.key for o in store.list(out_bucket, out_prefix)}
    todo = [(name, info) for name, info in inputs if join_key(out_prefix, name + OUT_SUFFIX) not in done]
    predictor = Predictor(artifact)  # load errors surface before any output
    pre = artifact.manifest.preprocessing
    size = (pre.image_shape[1], pre.image_shape[2])

    def load(item: tuple[str, ObjectInfo]) -> np.ndarray:
        name, info = item
        if info.size == 0:
            raise BadImage("empty object, not an image")
        if info.size > MAX_BODY_BYTES:
            raise BadImage(f"{info.size} bytes, over the {MAX_BODY_BYTES // (1024 * 1024)} MB payload limit")
        return decode(store.get(in_bucket, info.key), size, pre.resize, pre.fit)

    failed: list[tuple[str, str]] = []
    written = 0
    progress.start(f"Transforming {len(todo)} images to {s3_uri(out_bucket, out_prefix)}", len(todo))
    if len(todo) < len(inputs):
        progress.log(f"Skipping {len(inputs) - len(todo)} inputs already answered under {output_uri}")
    threads = workers or usable_cores()
    with ThreadPoolExecutor(threads, thread_name_prefix="scones-transform") as pool:
        batch: list[tuple[str, np.ndarray]] = []
        writes: list[Future[None]] = []
        for name, outcome in _decoded(pool, load, todo, window=max(2 * batch_size, 4 * threads)):
            if isinstance(outcome, BaseException):
                failed.append((name, _reason(outcome)))
                progress.log(f"Failed: {name}: {_reason(outcome)}")
                progress.advance()
                continue
            batch.append((name, outcome))
            if len(batch) == batch_size:
                writes += _answer(pool, store, predictor, batch, out_bucket, out_prefix, accept)
                written += len(batch)
                progress.advance(len(batch))
                batch = []
                while writes and writes[0].done():  # finished writes: surface a store error now, keep none
                    writes.pop(0).result()
        if batch:
            writes += _answer(pool, store, predictor, batch, out_bucket, out_prefix, accept)
            written += len(batch)
            progress.advance(len(batch))
        for write in writes:
            write.result()  # a store error is the job's error, not one input's
    return TransformResult(
        inputs=len(inputs),
        written=written,
        skipped=len(inputs) - len(todo),
        failed=failed,
        seconds=time.perf_counter() - started,
    )


def _within(prefix: str, parent: str) -> bool:
    return not parent or prefix == parent or prefix.startswith(parent + "/")


def _inputs(store: Store, bucket: str, prefix: str) -> list[tuple[str, ObjectInfo]]:
    """(name relative to the prefix, object) for every input; one object if the prefix names it."""
    objects = list(store.list(bucket, prefix))
    exact = [o for o in objects if o.key == prefix]
    if exact:  # the URI names one object, as SageMaker's S3Prefix may
        return [(prefix.rsplit("/", 1)[-1], exact[0])]
    strip = len(prefix) + 1 if prefix else 0
    return [(o.key[strip:], o) for o in objects if o.key.startswith(prefix + "/" if prefix else "")]


def _decoded(
    pool: ThreadPoolExecutor,
    load: Callable[[tuple[str, ObjectInfo]], np.ndarray],
    items: list[tuple[str, ObjectInfo]],
    window: int,
) -> Iterator[tuple[str, np.ndarray | BaseException]]:
    """Decode `items` on the pool, in order, with at most `window` in flight (memory stays bounded)."""
    pending: deque[tuple[str, Future[np.ndarray]]] = deque()
    queue = iter(items)
    for item in queue:
        pending.append((item[0], pool.submit(load, item)))
        if len(pending) >= window:
            break
    while pending:
        name, future = pending.popleft()
        try:
            yield name, future.result()
        except (BadImage, ObjectNotFound) as exc:  # this input's problem; the job carries on
            yield name, exc
        following = next(queue, None)
        if following is not None:
            pending.append((following[0], pool.submit(load, following)))


def _answer(
    pool: ThreadPoolExecutor,
    store: Store,
    predictor: Predictor,
    batch: list[tuple[str, np.ndarray]],
    bucket: str,
    prefix: str,
    accept: str,
) -> list[Future[None]]:
    """Run one batch through the model; the `.out` writes go to the pool."""
    probabilities = predictor.predict_images(np.stack([image for _, image in batch]))
    return [
        pool.submit(store.put, bucket, join_key(prefix, name + OUT_SUFFIX), format_output(row, accept).encode())
        for (name, _), row in zip(batch, probabilities, strict=True)
    ]


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
