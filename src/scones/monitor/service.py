"""The monitor's two operations, as the CLI and the demo call them: make a baseline, run a check.

`make_baseline` finds the model (an endpoint's, a given artifact, or the newest) and the data
(by default the staged dataset in s3://<bucket>/data), computes the baseline and writes it to
s3://<bucket>/monitoring/<name>/baseline. `run_monitor` reads a window of captured data,
checks it against the baseline and writes constraint_violations.json, statistics.json, the
figures and report.html to s3://<bucket>/monitoring/<name>/<run-id>/, recording the run.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from scones.config import Settings
from scones.errors import ArtifactError, MonitorError, SconesError
from scones.keys import join_key, parse_s3_uri
from scones.model.artifact import load as load_artifact
from scones.monitor import baseline as baselines, drift, report, runs, statistics
from scones.monitor.constraints import MonitorConfig, load_config
from scones.monitor.features import FEATURES, OnnxModel
from scones.monitor.labels import load_labels
from scones.monitor.reading import WindowSpec, read_window
from scones.monitor.sources import baseline_uri, endpoint_info, latest_model, model_location, monitoring_uri
from scones.monitor.window import Window
from scones.progress import NullProgress, Progress
from scones.storage import Store

logger = logging.getLogger(__name__)


class NoCapturedData(MonitorError):
    """The capture location holds no files at all."""

    def __init__(self, location: str) -> None:
        super().__init__(
            f"No captured data at {location}; enable capture on the endpoint (--capture-percent) or pass --capture"
        )


class UnknownEndpoint(MonitorError):
    """An endpoint to baseline is not in the endpoints table."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No endpoint {name} is registered; deploy it with 'scones deploy' or pass --model")


@dataclass(frozen=True)
class BaselineRequest:
    endpoint: str | None = None
    model: str | None = None
    data: str | None = None  # a staged dataset prefix (s3:// or folder); default s3://<bucket>/data
    output: str | None = None  # default s3://<bucket>/monitoring/<name>/baseline


@dataclass(frozen=True)
class RunRequest:
    endpoint: str | None = None
    capture: str | None = None  # any folder or s3:// prefix of captured files
    baseline: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    labels: str | None = None


@dataclass
class RunResult:
    run_id: str
    name: str
    status: str
    output: str
    report: str
    violations: list[dict[str, str]]
    results: list[drift.CheckResult]
    window: Window
    summary: dict[str, Any] = field(default_factory=dict)


def make_baseline(
    settings: Settings,
    store: Store,
    request: BaselineRequest,
    config: MonitorConfig | None = None,
    progress: Progress | None = None,
) -> tuple[str, baselines.Baseline]:
    """Compute and write a baseline; returns (its URI, the baseline)."""
    from scones.data.dataset import index_split  # stage 1's reader; imported only when a baseline is made

    progress = progress or NullProgress()
    config = config or load_config()
    if request.output:  # a bad --output fails now, not after reading the data and running the model
        try:
            parse_s3_uri(request.output)
        except SconesError as exc:
            raise MonitorError(f"Cannot write the baseline to --output {request.output[:200]!r}: {exc}") from exc
    if request.model:
        location, name = model_location(settings, request.model), None
    elif request.endpoint:
        info = endpoint_info(settings, request.endpoint)
        if not info.model:
            raise UnknownEndpoint(request.endpoint)
        location, name = info.model, request.endpoint
    else:
        location, name = latest_model(settings), settings.endpoint_name
    artifact = load_artifact(location, store)
    name = name or artifact.manifest.training_job or f"model-{artifact.manifest.model_sha256[:12] or 'unknown'}"
    data = (request.data or f"s3://{settings.bucket}/data").rstrip("/")
    _, height, width = artifact.manifest.preprocessing.image_shape  # staged images of any size, read at the model's
    # Located, not decoded: compute streams each split through the loader, a batch at a time.
    train = index_split(store, f"{data}/train", f"{data}/train.lst", size=(height, width), checksum=False)
    notes = []
    if _exists(store, f"{data}/test.lst"):
        held_out = index_split(store, f"{data}/test", f"{data}/test.lst", size=(height, width), checksum=False)
    else:
        held_out = train
        notes.append("no test split: model outputs measured on training images (confidence is optimistic)")
    progress.start("Computing the baseline", None)
    model = OnnxModel(artifact)
    prior = np.bincount(train.labels, minlength=len(artifact.classes)) / max(len(train.labels), 1)
    meta = {
        "name": name,
        "model": location,
        "model_sha256": artifact.manifest.model_sha256,
        "threshold": settings.threshold,
        "data": data,
        "notes": notes,
        "label_prior": dict(zip(artifact.classes, map(float, prior), strict=True)),
    }
    result = baselines.compute(model, train, held_out, held_out.labels, meta, config)
    uri = request.output or baseline_uri(settings, name)
    baselines.save(store, result, uri)
    return uri, result


def run_monitor(settings: Settings, store: Store, request: RunRequest, progress: Progress | None = None) -> RunResult:
    """One monitoring execution: read, check, write results, record; SconesError -> recorded Failed."""
    progress = progress or NullProgress()
    name = request.endpoint or settings.endpoint_name
    capture = request.capture or endpoint_info(settings, name).capture
    baseline_location = request.baseline or baseline_uri(settings, name)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    output = monitoring_uri(settings, name, run_id)
    since, until = (_iso(t) for t in (request.since, request.until))
    runs.start(settings, run_id, name, capture, baseline_location, since, until)
    try:
        result = _execute(settings, store, request, (run_id, name, capture, baseline_location, output), progress)
    except SconesError as exc:
        runs.finish(settings, run_id, "Failed", failure_reason=str(exc))
        raise
    runs.finish(settings, run_id, result.status, result.window.counts["records"], len(result.violations), output)
    return result


def _execute(
    settings: Settings, store: Store, request: RunRequest, where: tuple[str, str, str, str, str], progress: Progress
) -> RunResult:
    run_id, name, capture, baseline_location, output = where
    clock = _Stopwatch()
    base = baselines.load(store, baseline_location)
    labels = load_labels(store, request.labels, base.classes) if request.labels else None
    model = _model(store, base)
    spec = window_spec(base, labels.by_id if labels else None, model)
    clock.lap("prepare")
    window = read_window(store, capture, spec, request.since, request.until, progress)
    if window.read["files"] == 0 and window.read["skipped_files"] == 0:
        raise NoCapturedData(capture)
    clock.lap("read")
    progress.start("Checking the window", None)
    embeddings = None
    if model is not None and len(window.embedding_images):
        embeddings = model.predict(window.embedding_images, base.config.batch_size)[1]
    results = drift.evaluate(base, window, embeddings, labelled=labels is not None)
    violations = drift.violations_document(results)["violations"]
    clock.lap("check")
    status = "CompletedWithViolations" if violations else "Completed"
    summary = _summary(window, (run_id, name, capture, baseline_location, status), request, violations)
    summary["min_samples"] = base.config.min_samples
    if labels is not None:
        summary["labels"] = {"source": request.labels, "ids": len(labels.by_id), "bad_lines": labels.bad_lines}
    pictures = report.figures(window, base.max_probability)
    clock.lap("figures")
    summary["seconds"] = clock.laps
    page = report.html(summary, [r.as_dict() for r in results], pictures)
    files: dict[str, bytes] = {
        "constraint_violations.json": _json({"violations": violations}),
        "statistics.json": _json(window_statistics(window, summary)),
        "checks.json": _json({"checks": [r.as_dict() for r in results]}),
        **pictures,
        "report.html": page.encode(),  # last: a run's folder is complete once its report exists
    }
    bucket, prefix = parse_s3_uri(output)
    for file_name, data in files.items():
        store.put(bucket, join_key(prefix, file_name), data)
    return RunResult(run_id, name, status, output, f"{output}/report.html", violations, results, window, summary)


class _Stopwatch:
    """Seconds spent in each phase of a run (reported in its statistics and the benchmark)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def window_spec(base: baselines.Baseline, labels: dict[str, int] | None, model: OnnxModel | None) -> WindowSpec:
    """What a window is measured against; captured inputs are decoded at the model's size and fitted by its rule."""
    if model is None:  # no model (baseline without embeddings): the 32x32 stretch older baselines assume
        return WindowSpec(base.classes, float(base.meta["threshold"]), base.config, labels)
    pre = model.manifest.preprocessing
    return WindowSpec(
        base.classes, float(base.meta["threshold"]), base.config, labels, model.image_size, (pre.resize, pre.fit)
    )


def _model(store: Store, base: baselines.Baseline) -> OnnxModel | None:
    """The baseline's model, for embeddings; None (embedding check skipped) when it is gone."""
    location = base.meta.get("model")
    if not location or base.embeddings is None:
        return None
    try:
        return OnnxModel(load_artifact(str(location), store))
    except (ArtifactError, SconesError) as exc:
        logger.warning("embedding check skipped: cannot load the baseline's model %s (%s)", location, exc)
        return None


def window_statistics(window: Window, summary: dict[str, Any]) -> dict[str, Any]:
    """statistics.json of a window, in the same shape as the baseline's."""
    block = window.rows
    features = [
        statistics.numeric_feature(f"image.{n}", block[:, 4 + j], int(np.isnan(block[:, 4 + j]).sum()))
        for j, n in enumerate(FEATURES)
    ]
    features.append(statistics.numeric_feature("max_probability", window.column("max_probability")))
    features.append(statistics.numeric_feature("entropy", window.column("entropy")))
    counts = dict(zip(window.classes, map(int, window.class_counts), strict=True))
    features.append(statistics.categorical_feature("predicted_label", counts))
    extra = {"kind": "window", **{k: v for k, v in summary.items() if k != "violations"}, "counts": window.counts}
    return statistics.document(window.counts["records"], features, extra)


def _summary(
    window: Window, where: tuple[str, str, str, str, str], request: RunRequest, violations: list[dict[str, str]]
) -> dict[str, Any]:
    run_id, name, capture, baseline_location, status = where
    first, last = window.time_range
    return {
        "run_id": run_id,
        "name": name,
        "status": status,
        "capture": capture,
        "baseline": baseline_location,
        "since": _iso(request.since),
        "until": _iso(request.until),
        "first": _iso(datetime.fromtimestamp(first, UTC)) if first is not None else None,
        "last": _iso(datetime.fromtimestamp(last, UTC)) if last is not None else None,
        "records": window.counts["records"],
        "sampled": len(window.rows),
        "low_confidence_rate": window.rate("low_confidence", "outputs"),
        "read": window.read,
        "violations": violations,
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _exists(store: Store, uri: str) -> bool:
    if uri.startswith("s3://"):
        return store.exists(*parse_s3_uri(uri))
    return Path(uri).expanduser().is_file()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, default=baselines.plain).encode()


def plot_capture(
    settings: Settings, store: Store, request: RunRequest, out: Path, progress: Progress | None = None
) -> list[Path]:
    """The seed's pictures (and the class mix and histogram) of a window, as PNGs in folder `out`."""
    progress = progress or NullProgress()
    name = request.endpoint or settings.endpoint_name
    info = endpoint_info(settings, name)
    capture = request.capture or info.capture
    location = request.baseline or baseline_uri(settings, name)
    base = baselines.load(store, location) if request.baseline or baselines.exists(store, location) else None
    config = base.config if base else load_config()
    classes = base.classes if base else (info.classes or ["bicycle", "motorcycle"])  # the seed's classes
    window = read_window(
        store, capture, WindowSpec(classes, settings.threshold, config), request.since, request.until, progress
    )
    if window.read["files"] == 0 and window.read["skipped_files"] == 0:
        raise NoCapturedData(capture)
    read = window.read
    if read["records"] == 0 and (read["corrupt_lines"] or read["corrupt_files"]):
        # nothing but corrupt input: blank pictures with exit 0 would hide it
        first = read["problems"][0] if read["problems"] else "no details"
        raise MonitorError(
            f"No readable captured records at {capture}: {read['corrupt_lines']} corrupt lines, "
            f"{read['corrupt_files']} unreadable files (first: {first}); is it SageMaker data-capture JSONL?"
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, data in report.figures(window, base.max_probability if base else None).items():
        (out / file_name).write_bytes(data)
        written.append(out / file_name)
    return written
