"""`scones models`: the model registry (thin over scones.model.packages)."""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common

_Ref = Annotated[str, typer.Argument(help="The package: GROUP/VERSION (e.g. bike-moto/3) or its ARN.")]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]

models = typer.Typer(help="The model registry: versioned model packages with an approval status.", no_args_is_help=True)


@models.command("register")
def register_command(
    model: Annotated[str, typer.Option(help="Training job name, s3:// URI of model.tar.gz, or a local path.")],
    group: Annotated[str, typer.Option(help="Model package group.")] = "bike-moto",
    data: Annotated[
        str | None, typer.Option(help="The split to evaluate on: its image folder (default s3://<bucket>/data/test).")
    ] = None,
    skip_evaluation: Annotated[bool, typer.Option("--skip-evaluation", help="Record no evaluation.")] = False,
    description: Annotated[str | None, typer.Option(help="A note kept with the package.")] = None,
    as_json: _Json = False,
) -> None:
    """Register a model as the next version of its group (PendingManualApproval), evaluated and copied immutably."""
    from scones.model.packages import register

    package = register(_common.settings(), model, group, data, not skip_evaluation, description)
    _show(package.to_dict(), as_json)


@models.command("list")
def list_command(
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    as_json: _Json = False,
) -> None:
    """List model packages, newest version first."""
    from rich.table import Table

    from scones.model.packages import list_packages

    found = list_packages(_common.settings(), group, status)
    if as_json:
        _common.print_json([p.to_dict() for p in found])
        return
    if not found:
        _common.out.print("No model packages; register one with 'scones models register --model JOB'")
        return
    table = Table("package", "status", "accuracy", "ECE", "training job", "created")
    for p in found:
        ev = p.evaluation or {}
        accuracy = f"{ev['accuracy']:.4f}" if "accuracy" in ev else "-"
        ece = f"{ev['expected_calibration_error']:.4f}" if "expected_calibration_error" in ev else "-"
        table.add_row(f"{p.group}/{p.version}", p.status, accuracy, ece, p.training_job or "", p.created)
    _common.out.print(table)


@models.command("describe")
def describe_command(ref: _Ref) -> None:
    """Show one model package as JSON."""
    from scones.model.packages import describe, parse_ref

    _common.print_json(describe(_common.settings(), *parse_ref(ref)).to_dict())


@models.command("approve")
def approve_command(
    ref: _Ref, note: Annotated[str | None, typer.Option(help="Why.")] = None, as_json: _Json = False
) -> None:
    """Mark a model package Approved."""
    from scones.model.packages import parse_ref, set_status

    _show(set_status(_common.settings(), *parse_ref(ref), "Approved", note).to_dict(), as_json)


@models.command("reject")
def reject_command(
    ref: _Ref, note: Annotated[str | None, typer.Option(help="Why.")] = None, as_json: _Json = False
) -> None:
    """Mark a model package Rejected."""
    from scones.model.packages import parse_ref, set_status

    _show(set_status(_common.settings(), *parse_ref(ref), "Rejected", note).to_dict(), as_json)


def _show(package: dict[str, object], as_json: bool) -> None:
    if as_json:
        _common.print_json(package)
        return
    _common.out.print(
        f"{package['group']}/{package['version']} {package['status']}: {package['artifact']}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add `scones models ...` to the root app."""
    app.add_typer(models, name="models")
