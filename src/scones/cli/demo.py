"""`scones demo`: the whole seed system on the embedded defaults, one stage after another.

Each stage adds its step below, in the order data flows; a step reuses what an earlier run
left (no retraining unless asked) so re-running is cheap.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar
from scones.config import Settings
from scones.keys import parse_s3_uri
from scones.storage import Store


def demo(
    source: Annotated[
        str | None,
        typer.Option(help="CIFAR-100 python archive (URL or path) or an image folder with .lst files."),
    ] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train a new model even if one exists.")] = False,
) -> None:
    """Run the whole pipeline end to end and say where to look."""
    settings = _common.settings()
    store = _common.store(settings)

    from scones.data.stage import DEFAULT_SOURCE, stage

    _common.err.rule("1 data: stage CIFAR-100 bicycle/motorcycle")
    with progress_bar() as bar:
        result = stage(store, source or DEFAULT_SOURCE, progress=bar)
    _common.out.print(result.summary())

    from scones.cli.model import train_or_reuse

    _common.err.rule("2a train: the image classifier (reused if one finished on the same data)")
    train_or_reuse(settings, retrain=retrain)

    _common.err.rule("2b deploy: the trained model as an endpoint, data capture at 100%, one invocation")
    _deploy_and_invoke(settings, store)

    _common.err.rule("3 compose: test cases through the state machine (low confidence fails loudly, as it should)")
    _run_testcases(settings, store)

    _common.err.rule("4 evaluate: monitor what the endpoint captured (baseline, drift checks, report)")
    _monitor(settings, store)


def _deploy_and_invoke(settings: Settings, store: Store) -> None:
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


def _run_testcases(settings: Settings, store: Store) -> None:
    """Create the seed's state machine and run random test images through it (stage 3)."""
    from scones.cli.workflow import print_summary
    from scones.workflow import machines, testcases

    machine = machines.create(settings, machines.PIPELINE, machines.pipeline_definition())
    inputs = testcases.generate(store, 20)
    with progress_bar() as bar:
        summary = testcases.run(settings, machine.name, inputs, concurrency=4, type_="STANDARD", progress=bar)
    print_summary(summary)
    _common.out.print(
        f"see 'scones workflow list-executions {machine.name}' and 'scones workflow graph {machine.name}'"
    )


def _monitor(settings: Settings, store: Store) -> None:
    """Baseline the endpoint's model on the staged data, check what the demo captured (stage 4)."""
    import time

    from scones.endpoint.capture import CaptureConfig
    from scones.monitor.captured import list_files
    from scones.monitor.service import BaselineRequest, RunRequest, make_baseline, run_monitor
    from scones.monitor.sources import endpoint_info

    # The endpoint's capture writer holds records for up to max_file_seconds before writing a file:
    # wait until the captured bytes stop growing for that long (at most 30 s).
    capture = endpoint_info(settings, settings.endpoint_name).capture
    settle = CaptureConfig().max_file_seconds + 1
    deadline, last, since = time.monotonic() + 30, -1, time.monotonic()
    while time.monotonic() < deadline:
        size = sum(f.size for f in list_files(store, capture))
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
        time.sleep(0.5)
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


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
