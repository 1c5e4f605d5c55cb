"""CLI commands of safe rollout: guarded update-endpoint, live weights, deployments, the shadow report.

Thin over `scones.endpoint.deployments`, `registry` and `shadow_report`. Variants and shadows are
given at `scones deploy` (endpoint.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common
from scones.cli.endpoint import print_variants
from scones.errors import ConfigError

_Name = Annotated[str, typer.Argument(help="Endpoint name.")]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def update_endpoint_command(
    name: _Name,
    model: Annotated[
        str | None, typer.Option(help="The new model: model.tar.gz, its folder, s3:// URI or training job.")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="all-at-once, canary or linear: a guarded deployment with automatic rollback. "
            "Without it the model switches at once, unguarded."
        ),
    ] = None,
    canary_percent: Annotated[float, typer.Option(help="Canary: the candidate's share of traffic.")] = 10.0,
    linear_step: Annotated[float, typer.Option(help="Linear: the share added at each step.")] = 25.0,
    interval_seconds: Annotated[float, typer.Option(help="Seconds per canary or linear step.")] = 30.0,
    bake_seconds: Annotated[float, typer.Option(help="Seconds at 100% before the old model retires.")] = 30.0,
    max_error_rate_increase: Annotated[float, typer.Option(help="Trigger: candidate error rate minus old.")] = 0.01,
    max_p99_ratio: Annotated[float, typer.Option(help="Trigger: candidate p99 over old p99 (plus 50 ms).")] = 3.0,
    max_low_confidence_increase: Annotated[
        float, typer.Option(help="Trigger: candidate low-confidence rate (top probability < 0.93) minus old.")
    ] = 0.10,
    min_requests: Annotated[int, typer.Option(help="Candidate requests in a window before it is judged.")] = 20,
    compare_percent: Annotated[
        float,
        typer.Option(
            help="Share of the candidate's requests also sent to the old model (off the request "
            "path) to compare predictions; 0 turns the disagreement trigger off."
        ),
    ] = 25.0,
    max_disagreement: Annotated[
        float, typer.Option(help="Trigger: share of mirrored requests where the two models predict another class.")
    ] = 0.25,
    max_monitor_violations: Annotated[
        int | None,
        typer.Option(
            help="Trigger: a monitor run on the candidate's captured window (against the "
            "endpoint's baseline) finding more violations than this. Off unless given."
        ),
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Stop the deployment in progress and roll back.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every worker at each change.")] = 120.0,
) -> None:
    """Switch a running endpoint to another model without failing a request; guarded with --strategy."""
    from scones.endpoint import deployments
    from scones.endpoint.guardrails import Triggers
    from scones.endpoint.registry import update_endpoint

    settings = _common.settings()
    if rollback:
        stopping = deployments.stop(settings, name)
        if stopping.status == "RolledBack":  # its process had died: rolled back here
            _common.out.print(f"Deployment {stopping.id} of {name} was interrupted; rolled back to the old model")
        else:
            _common.out.print(f"Rolling back deployment {stopping.id} of {name} (its process does it at its next poll)")
        return
    if not model:
        raise ConfigError("Give --model (the new model), or --rollback to stop a deployment in progress")
    if strategy is None:
        record = update_endpoint(settings, name, model, timeout=timeout)
        _common.out.print(
            f"{record.name} now serves {record.model} ({record.config.get('model_sha256', '')[:12]}) at {record.url}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        return
    plan = deployments.Strategy(strategy, canary_percent, linear_step, interval_seconds, bake_seconds)
    if not 0 <= compare_percent <= 100:
        raise ConfigError(f"--compare-percent is {compare_percent:g}; give 0 to 100")
    triggers = Triggers(
        max_error_rate_increase, max_p99_ratio, 50.0, max_low_confidence_increase, 0.93, min_requests,
        max_disagreement=max_disagreement, compare_share=compare_percent / 100,
    )  # fmt: skip
    checks = []
    if max_monitor_violations is not None:
        from scones.monitor.deployment_check import monitor_check

        checks.append(monitor_check(settings, name, max_monitor_violations))

    def show(entry: dict[str, object]) -> None:
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("phase", "at"))
        _common.err.print(f"{entry['at']} {entry['phase']} {details}", markup=False, highlight=False, soft_wrap=True)

    done = deployments.deploy_model(settings, name, model, plan, triggers, timeout, on_phase=show, checks=checks)
    _common.out.print(f"Deployment {done.id} of {name}: {done.status}", markup=False)
    if done.status != "Completed":
        raise typer.Exit(3)  # rolled back: the endpoint serves the old model, and scripts should know


def deployments_command(name: _Name, as_json: _Json = False) -> None:
    """List an endpoint's deployments, newest first, with their phases."""
    from scones.endpoint.deployments import history

    found = history(_common.settings(), name)
    if as_json:
        _common.print_json([d.to_dict() for d in found])
        return
    if not found:
        _common.out.print(f"No deployments on {name}; start one with 'scones update-endpoint {name} --strategy ...'")
        return
    for d in found:
        _common.out.print(f"{d.id} {d.strategy} {d.status} {d.created} {d.model}", markup=False, soft_wrap=True)
        for p in d.phases:
            extra = f" trigger={p['trigger']} {p.get('figures')}" if "trigger" in p else ""
            _common.out.print(f"    {p['at']} {p['phase']}{extra}", markup=False, soft_wrap=True)


def update_weights_command(
    name: _Name,
    weights: Annotated[list[str], typer.Argument(help="NAME=WEIGHT for each variant to change, e.g. Blue=9 Green=1.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every worker to apply them.")] = 60.0,
) -> None:
    """Change a running endpoint's traffic split between its variants, live (UpdateEndpointWeightsAndCapacities)."""
    from scones.endpoint import variants
    from scones.endpoint.registry import update_weights

    record = update_weights(_common.settings(), name, variants.parse_weights(weights), timeout=timeout)
    print_variants(record.config.get("variants") or [])


def shadow_report_command(
    name: _Name,
    as_json: _Json = False,
    threshold: Annotated[float, typer.Option(help="Below this top probability an answer is low-confidence.")] = 0.93,
) -> None:
    """Compare the shadow variant with production, prediction by prediction, from the captured requests."""
    from scones.endpoint.shadow_report import shadow_report

    report = shadow_report(_common.settings(), name, threshold)
    if as_json:
        _common.print_json(report.to_dict())
        return
    say = _common.out.print
    say(f"{report.endpoint}: shadow {report.shadow} vs {', '.join(report.production)} over {report.pairs} requests")
    if report.agreement_rate is None:
        say("No paired requests yet: send traffic with capture on (--capture-percent 100), then run this again")
        return
    say(f"  agreement {100 * report.agreement_rate:.2f}%, confidence shift {report.confidence_shift:+.4f}")
    for side in report.sides:
        latency = (
            f"p50 {side.latency_p50_ms:.1f} ms, p99 {side.latency_p99_ms:.1f} ms"
            if side.latency_p50_ms is not None and side.latency_p99_ms is not None
            else "latency n/a (endpoint not answering)"
        )
        say(
            f"  {side.variant}: mean confidence {side.mean_confidence:.4f}, "
            f"low-confidence {100 * side.low_confidence_rate:.1f}% (< {report.threshold}), {latency}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
    for ours, theirs in report.flips.items():
        say(f"  production {ours} -> shadow " + ", ".join(f"{k}: {v}" for k, v in theirs.items()), markup=False)
    for d in report.disagreements[:10]:
        say(f"  disagree: {d['production']} vs {d['shadow']}  {d['shadow_key']}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the rollout commands to the root app."""
    app.command("update-endpoint")(update_endpoint_command)
    app.command("update-endpoint-weights")(update_weights_command)
    app.command("deployments")(deployments_command)
    group = typer.Typer(help="Endpoint tools: the shadow report.", no_args_is_help=True)
    group.command("shadow-report")(shadow_report_command)
    app.add_typer(group, name="endpoint")
