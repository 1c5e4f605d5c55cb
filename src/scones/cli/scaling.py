"""Commands for scaling: `scones update-endpoint` (thin: parse, call the stage, print)."""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common


def update_endpoint_command(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[str, typer.Option(help="The new model: model.tar.gz, its folder, s3:// URI or training job.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every worker to switch.")] = 120.0,
) -> None:
    """Switch a running endpoint to another model without failing a request (same URL, same workers)."""
    from scones.endpoint.update import update_endpoint

    record = update_endpoint(_common.settings(), name, model, timeout=timeout)
    _common.out.print(
        f"{record.name} now serves {record.model} ({record.config.get('model_sha256', '')[:12]}) at {record.url}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the scaling commands to the root app."""
    app.command("update-endpoint")(update_endpoint_command)
