"""`scones up`: the local AWS in the foreground (thin: parse, call scones.localaws, print)."""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common


def up(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on; keep loopback unless you mean to share it [default: 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="One port for every service; 0 picks a free one [default: 4566]."),
    ] = None,
    access_key: Annotated[
        str | None, typer.Option(help="Check SigV4 signatures made with this key (env SCONES_UP_ACCESS_KEY).")
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option(help="The secret for --access-key (env SCONES_UP_SECRET_KEY).", show_default=False),
    ] = None,
    account_id: Annotated[str | None, typer.Option(help="The account STS reports [default: 000000000000].")] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="Also answer this Host name (repeatable); others get 403, as DNS-rebinding pages do."),
    ] = None,
) -> None:
    """Serve the AWS APIs the seed's code calls (S3, STS, Lambda, Logs, Step Functions) on one port, over the home."""
    from scones.localaws import load_up_config, serve

    settings = _common.settings()
    config = load_up_config(
        host=host,
        port=port,
        access_key=access_key,
        secret_key=secret_key,
        account_id=account_id,
        allow_hosts=",".join(allow_host) if allow_host else None,
    )
    serve(settings, config, _announce)


def _announce(lines: list[str]) -> None:
    for line in lines:  # markup off: an IPv6 host's [::1] is not a Rich tag
        _common.out.print(line, highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("up")(up)
