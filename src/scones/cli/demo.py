"""`scones demo`: the whole seed system on the embedded defaults, one stage after another.

Stage the data, train (or reuse a finished model), deploy with capture at 100%, run random
test cases through the state machine, monitor what was captured, and end with a short report
of where to look. Re-running reuses what is done; `--clean` removes everything it made.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar
from scones.config import Settings
from scones.keys import parse_s3_uri
from scones.storage import Store

TESTCASES = 60  # enough captured records for the monitor's distribution checks (30 at least)


@dataclass
class _Report:
    """What the final summary shows, filled in by the steps."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, text: str) -> None:
        self.lines.append((what, text))


def demo(
    source: Annotated[
        str | None,
        typer.Option(help="CIFAR-100 python archive (URL or path) or an image folder with .lst files."),
    ] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train a new model even if one exists.")] = False,
    testcases: Annotated[int, typer.Option(min=1, max=10_000, help="Test cases to run through the workflow.")] = (
        TESTCASES
    ),
    clean: Annotated[
        bool, typer.Option("--clean", help="Stop the demo's endpoints and remove everything it made, then exit.")
    ] = False,
) -> None:
    """Run the whole pipeline end to end and say where to look."""
    settings = _common.settings()
    store = _common.store(settings)
    if clean:
        _clean(settings, store)
        return
    report = _Report()

    from scones.data.stage import DEFAULT_SOURCE, stage

    _common.err.rule("1 data: stage CIFAR-100 bicycle/motorcycle")
    with progress_bar() as bar:
        result = stage(store, source or DEFAULT_SOURCE, progress=bar)
    _common.out.print(result.summary(), soft_wrap=True)

    from scones.cli.model import train_or_reuse

    _common.err.rule("2a train: the image classifier (reused if one finished on the same data)")
    job = train_or_reuse(settings, retrain=retrain)
    _evaluate(settings, store, job, report)

    _common.err.rule("2b deploy: the trained model as an endpoint, data capture at 100%, one invocation")
    _deploy_and_invoke(settings, store, report)

    _common.err.rule("3 compose: test cases through the state machine (low confidence fails loudly, as it should)")
    _run_testcases(settings, store, testcases, report)

    _common.err.rule("4 evaluate: monitor what the endpoint captured (baseline, drift checks, report)")
    _monitor(settings, store, report)

    report.add("console", "scones console  (then open the http://127.0.0.1:8000/?token=... URL it prints)")
    _common.err.rule("done: where to look")
    width = max(len(what) for what, _ in report.lines)
    for what, text in report.lines:
        _common.out.print(f"{what.ljust(width)}  {text}", soft_wrap=True, markup=False, highlight=False)


def _evaluate(settings: Settings, store: Store, job: dict[str, Any], report: _Report) -> None:
    """Accuracy of the kept model on the staged test split, as the endpoint will run it."""
    from scones.model.evaluate import evaluate

    data = f"s3://{settings.bucket}/data"
    result = evaluate(settings, job["name"], f"{data}/test", f"{data}/test.lst", store)
    report.add(
        "accuracy",
        f"{result.accuracy:.3f} on {result.images} test images; {result.confident_share:.0%} pass the "
        f"{result.threshold} filter; calibration error {result.expected_calibration_error:.3f} (the seed's "
        "default validates on these images; held-out figures are in docs/benchmarks.md)",
    )
    report.add("training", f"scones describe-training-job {job['name']}  (plot: {_metrics_png(store, job)})")


def _metrics_png(store: Store, job: dict[str, Any]) -> str:
    uri = str(job.get("artifact_uri") or "")
    if not uri.startswith("s3://"):
        return "see the job"
    bucket, key = parse_s3_uri(uri.rsplit("/", 1)[0] + "/metrics.png")
    return store.describe(bucket, key)


def _clean(settings: Settings, store: Store) -> None:
    """Stop every endpoint recorded in this home, then remove the demo's objects and the home."""
    from scones.endpoint.registry import delete, list_endpoints

    for record in list_endpoints(settings):
        delete(settings, record.name)
        _common.out.print(f"deleted endpoint {record.name}")
    if not store.is_local:  # the buckets are elsewhere: remove what the demo wrote there
        for prefix in ("data", "models", "data_capture", "monitoring"):
            for info in list(store.list(settings.bucket, prefix)):
                store.delete(settings.bucket, info.key)
        _common.out.print(f"removed the demo's objects from s3://{settings.bucket}")
    shutil.rmtree(settings.home, ignore_errors=True)
    _common.out.print(f"removed {settings.home}")


def _deploy_and_invoke(settings: Settings, store: Store, report: _Report) -> None:
    """Deploy the newest trained model under the seed's endpoint name and classify one test image."""
    from scones.data.dataset import parse_lst
    from scones.endpoint.client import invoke
    from scones.endpoint.registry import deploy
    from scones.endpoint.server import endpoint_config
    from scones.errors import EndpointError
    from scones.model.jobs import latest_completed

    job = latest_completed(settings)
    if job is None:
        raise EndpointError("No completed training job to deploy; run 'scones train' first")
    config = endpoint_config(settings, name=settings.endpoint_name, port=0, capture_percent=100)
    record = deploy(settings, config, job["name"])
    _common.out.print(f"{record.name} InService at {record.url}, serving {job['name']}", soft_wrap=True)
    entry = parse_lst(store.get(settings.bucket, "data/test.lst").decode(), "data/test.lst")[0]
    key = f"data/test/{entry.path}"
    prediction = invoke(settings, record.name, store.get(settings.bucket, key), f"s3://{settings.bucket}/{key}")
    shown = ", ".join(f"{c}={p:.3f}" for c, p in zip(prediction.classes, prediction.probabilities, strict=False))
    _common.out.print(f"{prediction.source}: {prediction.label} ({shown}); captured under "
                      f"s3://{settings.bucket}/data_capture/{record.name}/AllTraffic/", soft_wrap=True)  # fmt: skip
    report.add("endpoint", f"{record.name} at {record.url}  (stop: scones delete-endpoint {record.name})")
    report.add("captured", store.describe(settings.bucket, f"data_capture/{record.name}"))


def _run_testcases(settings: Settings, store: Store, count: int, report: _Report) -> None:
    """Create the seed's state machine and run random test images through it (stage 3)."""
    from scones.cli.workflow import print_summary
    from scones.workflow import machines, testcases

    machine = machines.create(settings, machines.PIPELINE, machines.pipeline_definition())
    inputs = testcases.generate(store, count)
    with progress_bar() as bar:
        summary = testcases.run(settings, machine.name, inputs, concurrency=4, type_="STANDARD", progress=bar)
    print_summary(summary)
    failed = ", ".join(f"{error} {n}" for error, n in summary.failed.items())
    report.add(
        "executions",
        f"{summary.executions}: {summary.succeeded} succeeded, {summary.executions - summary.succeeded} failed"
        + (f" ({failed})" if failed else "")
        + f"  (scones workflow list-executions {machine.name})",
    )
    _common.out.print(
        f"see 'scones workflow list-executions {machine.name}' and 'scones workflow graph {machine.name}'"
    )


def _monitor(settings: Settings, store: Store, report: _Report) -> None:
    """Baseline the endpoint's model on the staged data, check what the demo captured (stage 4)."""
    from scones.endpoint.settle import wait_for_capture
    from scones.monitor.service import BaselineRequest, RunRequest, make_baseline, run_monitor
    from scones.monitor.sources import endpoint_info

    wait_for_capture(store, endpoint_info(settings, settings.endpoint_name).capture)  # the newest records too
    with progress_bar() as bar:
        baseline, _ = make_baseline(settings, store, BaselineRequest(endpoint=settings.endpoint_name), progress=bar)
        result = run_monitor(settings, store, RunRequest(endpoint=settings.endpoint_name), progress=bar)
    evaluated = sum(r.evaluated for r in result.results)
    _common.out.print(f"baseline: {baseline}", soft_wrap=True)
    _common.out.print(
        f"{result.status}: {len(result.violations)} violation(s), {evaluated} of {len(result.results)} "
        f"checks evaluated on {result.window.counts['records']} captured records (distribution checks need at least "
        f"{result.summary['min_samples']})",
        soft_wrap=True,
    )
    _common.out.print(f"report: {store.describe(*parse_s3_uri(result.report))}", soft_wrap=True)
    names = sorted({v["feature_name"] for v in result.violations})
    verdict = "no drift" if not result.violations else f"{len(result.violations)} violation(s): {', '.join(names)}"
    report.add("drift", f"{result.status}: {verdict} ({evaluated} of {len(result.results)} checks evaluated)")
    report.add("report", store.describe(*parse_s3_uri(result.report)))
    report.add("plots", store.describe(*parse_s3_uri(result.output)) + "  (*.png)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
