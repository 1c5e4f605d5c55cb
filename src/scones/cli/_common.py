"""What every command shares: global options, settings, the store, and output helpers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scones.config import Settings, ensure_home, load_settings
from scones.errors import ConfigError
from scones.storage import Store

out = Console()  # results: stdout
err = Console(stderr=True)  # progress, notes and warnings: stderr

_flags: dict[str, Any] = {}


def global_options(
    home: Annotated[
        Path | None, typer.Option("--home", help="The scones home folder (env SCONES_HOME; default ~/.scones).")
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="Default bucket (env SCONES_BUCKET; default scones).")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Object store: local or s3 (env SCONES_STORAGE; default local).")
    ] = None,
    s3_endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint URL for --storage s3 (env SCONES_S3_ENDPOINT_URL).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Postgres URL for STANDARD executions shared by workers (env SCONES_DATABASE_URL)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more (to stderr).")] = False,
) -> None:
    """Ship the bicycle/motorcycle classifier as a scalable, safe, event-driven service."""
    _flags.clear()
    _flags.update(home=home, bucket=bucket, storage=storage, s3_endpoint_url=s3_endpoint_url, database_url=database_url)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def settings(**overrides: Any) -> Settings:
    """Settings from the global flags (and any per-command `overrides`), env and defaults."""
    resolved = load_settings(**{**_flags, **{k: v for k, v in overrides.items() if v is not None}})
    ensure_home(resolved)
    return resolved


def token(auth_token: str | None, auth_token_file: Path | None) -> str | None:
    """The token from --auth-token or --auth-token-file (one line; `ps` shows flags, not files)."""
    if auth_token_file is None:
        return auth_token
    if auth_token is not None:
        raise ConfigError("Give --auth-token or --auth-token-file, not both")
    try:
        text = auth_token_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read --auth-token-file {auth_token_file}: {exc}; give a readable text file") from exc
    if not text or "\n" in text:
        raise ConfigError(f"--auth-token-file {auth_token_file} must hold the token alone on one line")
    return text


def store(resolved: Settings | None = None) -> Store:
    return Store(resolved or settings())


def print_json(value: Any) -> None:
    """Machine-readable output on stdout (for --json flags)."""
    typer.echo(json.dumps(value, indent=2, default=str))
