"""CLI commands of the data stage (thin: parse, call the stage, print)."""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar


def stage_command(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="CIFAR-100 python archive (URL or local path) or a folder with train/ + train.lst "
            "(and test/ + test.lst). Default: the official CIFAR-100 URL.",
        ),
    ] = None,
    classes: Annotated[
        str,
        typer.Option(help="Comma-separated CIFAR-100 fine label names; labels 0..k-1 in this order."),
    ] = "bicycle,motorcycle",
    bucket: Annotated[str | None, typer.Option(help="Bucket to stage into (default: the configured bucket).")] = None,
    prefix: Annotated[str, typer.Option(help="Key prefix of the dataset in the bucket.")] = "data",
) -> None:
    """Stage CIFAR-100 classes as PNGs + .lst files (+ manifest.json) in the object store."""
    from scones.data.stage import DEFAULT_SOURCE, stage

    store = _common.store()
    with progress_bar() as bar:
        result = stage(
            store, source or DEFAULT_SOURCE, classes=classes.split(","), bucket=bucket, prefix=prefix, progress=bar
        )
    _common.out.print(result.summary(), markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("stage")(stage_command)
