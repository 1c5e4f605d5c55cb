"""CLI commands of the monitor stage (thin: parse, call the stage, print).

`scones monitor run` exits 0 when the window passes every check, 3 when there is a violation
(so cron and CI can alert), 1 on errors and 2 on usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar

if TYPE_CHECKING:
    from scones.monitor.service import RunRequest

VIOLATION_EXIT = 3

monitor_app = typer.Typer(
    help="Monitor captured data: baselines, drift checks, reports, schedules.", no_args_is_help=True
)

Endpoint = Annotated[str | None, typer.Option(help="Endpoint name (default: the configured endpoint).")]
Capture = Annotated[str | None, typer.Option(help="Read this folder or s3:// prefix of captured .jsonl files instead.")]
BaselineOpt = Annotated[str | None, typer.Option("--baseline", help="Baseline folder or s3:// prefix.")]
Since = Annotated[str | None, typer.Option(help="Window start: ISO-8601 UTC or a duration ago (2h).")]
Until = Annotated[str | None, typer.Option(help="Window end (exclusive): ISO-8601 UTC or a duration ago.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _run_request(
    endpoint: str | None,
    capture: str | None,
    baseline: str | None,
    since: str | None,
    until: str | None,
    labels: str | None = None,
) -> RunRequest:
    from scones.monitor.runs import parse_time
    from scones.monitor.service import RunRequest

    return RunRequest(
        endpoint=endpoint,
        capture=capture,
        baseline=baseline,
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
        labels=labels,
    )


@monitor_app.command("baseline")
def baseline(
    endpoint: Endpoint = None,
    model: Annotated[
        str | None, typer.Option(help="Model: model.tar.gz, folder, s3:// URI or training job name.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Staged dataset (s3:// prefix or folder); default s3://<bucket>/data.")
    ] = None,
    output: Annotated[str | None, typer.Option(help="Where to write it (s3:// prefix).")] = None,
    as_json: Json = False,
) -> None:
    """Compute the reference a monitor compares windows with (statistics.json, constraints.json)."""
    from scones.monitor.service import BaselineRequest, make_baseline

    if endpoint and model:
        raise typer.BadParameter("give --endpoint or --model, not both")
    settings = _common.settings()
    with progress_bar() as bar:
        uri, result = make_baseline(
            settings, _common.store(settings), BaselineRequest(endpoint, model, data, output), progress=bar
        )
    stats = result.statistics()["scones"]
    if as_json:
        _common.print_json({"baseline": uri, **stats})
        return
    _say(f"Baseline for {result.meta['name']} written to {uri}")
    _say(
        f"  {stats['training_images']} training images, {stats['held_out']} held-out; "
        f"accuracy {stats['accuracy'] if stats['accuracy'] is not None else '-'}, "
        f"low-confidence rate {stats['low_confidence_rate']:.1%} at {result.meta['threshold']}"
    )
    for note in result.meta.get("notes", []):
        _common.err.print(f"  note: {note}")


@monitor_app.command("run")
def run(
    endpoint: Endpoint = None,
    capture: Capture = None,
    baseline_uri: BaselineOpt = None,
    since: Since = None,
    until: Until = None,
    labels: Annotated[
        str | None, typer.Option(help="Ground-truth labels (file or prefix) keyed by inferenceId or eventId.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Check a window of captured data against the baseline; exit 3 on a violation."""
    from scones.monitor.service import run_monitor

    settings = _common.settings()
    request = _run_request(endpoint, capture, baseline_uri, since, until, labels)
    with progress_bar() as bar:
        result = run_monitor(settings, _common.store(settings), request, progress=bar)
    if as_json:
        _common.print_json({**result.summary, "output": result.output, "report": result.report})
    else:
        _say(f"{result.status}: {len(result.violations)} violation(s) in {result.window.counts['records']} records")
        for violation in result.violations:
            _say(f"  {violation['constraint_check_type']} {violation['feature_name']}: {violation['description']}")
        _say(f"Report: {_common.store(settings).describe(*_split(result.report))}")
    if result.violations:
        raise typer.Exit(VIOLATION_EXIT)


@monitor_app.command("executions")
def executions(
    endpoint: Endpoint = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: Json = False,
) -> None:
    """List monitoring executions (Completed, CompletedWithViolations, Failed)."""
    from scones.monitor.runs import executions as list_executions

    rows = list_executions(_common.settings(), endpoint, limit)
    if as_json:
        _common.print_json([r.as_dict() for r in rows])
        return
    from rich.table import Table

    table = Table("run", "endpoint", "status", "records", "violations", "started", "output / failure")
    for r in rows:
        detail = r.failure_reason or r.output or ""
        table.add_row(r.run_id, r.name, r.status, str(r.records or 0), str(r.violations or 0), r.started, detail)
    _common.out.print(table)


@monitor_app.command("schedule")
def schedule(
    every: Annotated[str, typer.Option(help="Interval: 30s, 15m, 1h, 1d.")] = "1h",
    endpoint: Endpoint = None,
    capture: Capture = None,
    baseline_uri: BaselineOpt = None,
    max_runs: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many runs (default: run forever).")
    ] = None,
    lag: Annotated[
        str, typer.Option(help="Analyse each window this long after it ends (capture writers buffer records).")
    ] = "1m",
    loop_policy: Annotated[
        str | None,
        typer.Option(help="After each run, one review-loop iteration of the endpoint by this policy (TOML file)."),
    ] = None,
) -> None:
    """Run the monitor every interval in the foreground, each run on the interval just ended (after --lag)."""
    from datetime import UTC, datetime

    from scones.monitor.runs import parse_interval, schedule as run_schedule
    from scones.monitor.service import RunRequest, run_monitor

    settings = _common.settings()
    store = _common.store(settings)
    plan = None
    if loop_policy is not None:
        from scones.loop.policy import load_policy

        plan = load_policy(loop_policy)  # a bad policy fails before the first run

    def once(since: float, until: float) -> None:
        window = (datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC))
        request = RunRequest(
            endpoint=endpoint, capture=capture, baseline=baseline_uri, since=window[0], until=window[1]
        )
        result = run_monitor(settings, store, request)
        _say(f"{result.run_id} {result.status}: {len(result.violations)} violation(s); {result.report}")
        if plan is not None:
            from scones.cli.loop import run_loop_once

            record = run_loop_once(settings, endpoint or settings.endpoint_name, plan)
            _say(f"Loop iteration {record['id']}: {record['status']} ({record['trigger']}): {record['reason']}")

    interval = parse_interval(every)
    _common.err.print(f"Monitoring every {every}; Ctrl-C to stop.")
    run_schedule(interval, once, max_runs=max_runs, lag=parse_interval(lag))


@monitor_app.command("plot")
def plot(
    endpoint: Endpoint = None,
    capture: Capture = None,
    baseline_uri: BaselineOpt = None,
    since: Since = None,
    until: Until = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")] = Path("monitor-plots"),
) -> None:
    """Draw the pictures of captured data (confidence over time, image grid, class mix, histogram)."""
    from scones.monitor.service import plot_capture

    settings = _common.settings()
    request = _run_request(endpoint, capture, baseline_uri, since, until)
    with progress_bar() as bar:
        written = plot_capture(settings, _common.store(settings), request, out, progress=bar)
    for path in written:
        _say(str(path))


def _say(text: str) -> None:
    """One result line on stdout, never wrapped (URIs stay whole) nor read as Rich markup."""
    _common.out.print(text, soft_wrap=True, markup=False, highlight=False)


def _split(uri: str) -> tuple[str, str]:
    from scones.keys import parse_s3_uri

    return parse_s3_uri(uri)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(monitor_app, name="monitor")
