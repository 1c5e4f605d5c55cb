"""CLI commands of the console stage (thin: parse, call the stage, print)."""

from __future__ import annotations

from pathlib import Path
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
            help="Ask for this token instead of a fresh one each start; env SCONES_AUTH_TOKEN.", show_default=False
        ),
    ] = None,
    auth_token_file: Annotated[
        Path | None, typer.Option(help="Read the token from this file (kept out of 'ps').", show_default=False)
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Ask for no token: any local process can then use the console.")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="Also answer requests naming this host (repeatable); others get 403.", show_default=False),
    ] = None,
) -> None:
    """Serve the web console: jobs, models, endpoints, executions, captured data, monitoring."""
    settings = _common.settings(auth_token=_common.token(auth_token, auth_token_file))
    from scones.console import access_token, serve

    token = access_token(settings, host, no_auth)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)  # noqa: S104
    query = f"?token={token}" if token else ""
    _common.err.print(f"scones console on http://{shown}:{port}/{query} (Ctrl-C to stop)", soft_wrap=True)
    if token is None:
        _common.err.print("No token: any process on this machine can read the buckets and delete endpoints.")
    serve(settings, token, host=host, port=port, allow_hosts=allow_host or ())


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("console")(console)
