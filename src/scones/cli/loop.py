"""CLI commands of the loop stage: reviewed images -> a dataset version -> a retrained, compared, rolled-out model.

`scones dataset add-reviewed NAME`, `scones retrain NAME` and `scones loop run NAME` (thin over
`scones.loop`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar

_Name = Annotated[str, typer.Argument(help="Endpoint name (whose reviewed images are used).")]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]

dataset_app = typer.Typer(help="Dataset versions made from reviewed images.", no_args_is_help=True)
loop_app = typer.Typer(
    help="The review loop: one iteration by a policy, and the iterations so far.", no_args_is_help=True
)


@dataset_app.command("add-reviewed")
def add_reviewed_command(
    name: _Name,
    into: Annotated[
        str | None, typer.Option(help="Where the new version goes (default: s3://<bucket>/data-v2, -v3, ...).")
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(help="The version to add to (default: the newest made for NAME, else s3://<bucket>/data)."),
    ] = None,
    test_share: Annotated[
        float, typer.Option(help="Share of the reviewed images (per class) held out as the reviewed-test split.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the reviewed-test hold-out.")] = 0,
    as_json: _Json = False,
) -> None:
    """Stage a new dataset version: the training set plus NAME's reviewed images with their labels."""
    from dataclasses import asdict

    from scones.loop.versions import add_reviewed_for

    settings = _common.settings()
    with progress_bar() as bar:
        result = add_reviewed_for(
            settings, _common.store(settings), name, parent=parent, into=into, test_share=test_share, seed=seed,
            progress=bar,
        )  # fmt: skip
    if as_json:
        _common.print_json(asdict(result))
        return
    _common.out.print(result.summary(), markup=False, highlight=False, soft_wrap=True)


def retrain_command(
    name: _Name,
    dataset: Annotated[str | None, typer.Option(help="Dataset version (default: NAME's newest reviewed one).")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs of the warm-started training.")] = 24,
    backbone_lr_factor: Annotated[
        float, typer.Option(help="Warm start: the pretrained layers learn at this share of the rate (1: all alike).")
    ] = 1.0,
    margin: Annotated[
        float, typer.Option(help="Deploy only if better on reviewed-test by at least this accuracy.")
    ] = 0.02,
    tolerance: Annotated[
        float, typer.Option(help="...and not worse on the original test split by more than this accuracy.")
    ] = 0.01,
    deploy: Annotated[bool, typer.Option("--deploy/--no-deploy", help="Roll out a candidate that passes.")] = True,
    strategy: Annotated[str, typer.Option(help="Rollout: canary, linear or all-at-once (guarded).")] = "canary",
    canary_percent: Annotated[float, typer.Option(help="Canary: the candidate's share of traffic.")] = 10.0,
    interval_seconds: Annotated[float, typer.Option(help="Seconds per canary or linear step.")] = 30.0,
    bake_seconds: Annotated[float, typer.Option(help="Seconds at 100% before the old model retires.")] = 30.0,
    as_json: _Json = False,
) -> None:
    """Train a candidate on the reviewed data, compare it with NAME's model, register it, roll it out if better."""
    from scones.endpoint.deployments import Strategy
    from scones.loop.retrain import Gates, RetrainOptions, retrain

    options = RetrainOptions(
        dataset=dataset, epochs=epochs, backbone_lr_factor=backbone_lr_factor, gates=Gates(margin, tolerance),
        deploy=deploy,
        strategy=Strategy(strategy, canary_percent, interval_seconds=interval_seconds, bake_seconds=bake_seconds),
    )  # fmt: skip
    settings = _common.settings()

    def show(entry: dict[str, Any]) -> None:
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("phase", "at"))
        _common.err.print(f"{entry['at']} {entry['phase']} {details}", markup=False, highlight=False, soft_wrap=True)

    with progress_bar() as bar:
        result = retrain(settings, name, options, progress=bar, on_phase=show)
    if as_json:
        _common.print_json(result)
    else:
        print_retrain(result)
    if result["decision"].get("rollout") not in (None, "Completed"):
        raise typer.Exit(3)  # rolled back: scripts should know


def print_retrain(result: dict[str, Any]) -> None:
    say = _common.out.print
    candidate = result["candidate"]
    start = "warm-started" if candidate["warm_start"] else "from scratch"
    cost = f"{start}, {candidate['epochs']} epochs, {candidate['training_seconds']:.0f} s"
    say(
        f"Candidate {candidate['model']} ({cost}), registered as {candidate['package']}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    for split, pair in result["comparison"].items():
        say(f"  {split}: current {pair['current']:.4f}, candidate {pair['candidate']:.4f}", markup=False)
    decision = result["decision"]
    say(f"Decision: {decision['status']}: {decision['reason']}", markup=False, highlight=False, soft_wrap=True)


_Policy = Annotated[
    str | None, typer.Option("--policy", help="Loop policy, a TOML file (triggers, gates, training, strategy).")
]


@loop_app.command("run")
def loop_run_command(name: _Name, policy: _Policy = None, as_json: _Json = False) -> None:
    """One iteration: refresh the review queue; if a trigger holds, add the reviews to a dataset and retrain."""
    from scones.loop.policy import load_policy

    plan = load_policy(policy)  # a bad policy fails before anything runs
    record = run_loop_once(_common.settings(), name, plan)
    if as_json:
        _common.print_json(record)
    else:
        _common.out.print(
            f"Iteration {record['id']} of {name}: {record['status']} ({record['trigger']}): {record['reason']}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
    if record["status"] == "RolledBack":
        raise typer.Exit(3)


def run_loop_once(settings: Any, name: str, plan: Any) -> dict[str, Any]:
    """One loop iteration with a progress bar (also what 'scones monitor schedule --loop-policy' runs)."""
    from scones.loop.iteration import run_iteration

    def show(entry: dict[str, Any]) -> None:
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("phase", "at"))
        _common.err.print(f"{entry['at']} {entry['phase']} {details}", markup=False, highlight=False, soft_wrap=True)

    with progress_bar() as bar:
        return run_iteration(settings, name, plan, progress=bar, on_phase=show)


@loop_app.command("iterations")
def iterations_command(
    name: Annotated[str | None, typer.Argument(help="Endpoint name (default: every endpoint).")] = None,
    as_json: _Json = False,
) -> None:
    """The loop's iterations, newest first: trigger, status and why."""
    from rich.table import Table

    from scones.loop.table import iterations

    records = iterations(_common.settings(), name)
    if as_json:
        _common.print_json(records)
        return
    if not records:
        _common.out.print("No loop iterations yet; run 'scones loop run NAME'.")
        return
    table = Table("id", "endpoint", "started", "trigger", "status", "reason")
    for r in records:
        table.add_row(str(r["id"]), r["endpoint"], r["started"], r["trigger"], r["status"], r["reason"] or "")
    _common.out.print(table)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(dataset_app, name="dataset")
    app.command("retrain")(retrain_command)
    app.add_typer(loop_app, name="loop")
