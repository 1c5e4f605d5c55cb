"""CLI commands of the console stage (thin: parse, call the stage, print)."""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common


def console(
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    auth_token: Annotated[
        str | None,
        typer.Option(
            help="Require this bearer token (or a sign-in with it); env SCONES_AUTH_TOKEN.", show_default=False
        ),
    ] = None,
) -> None:
    """Serve the web console: jobs, models, endpoints, executions, captured data, monitoring."""
    settings = _common.settings(auth_token=auth_token)
    from scones.console import serve

    _common.err.print(f"scones console on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(settings, host=host, port=port)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("console")(console)
