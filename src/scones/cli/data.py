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
            help="CIFAR-100 python archive (URL or local path); an image folder (<class>/*.jpg, optionally under "
            "train/ and test/); a folder with train.lst/test.lst; or a SageMaker augmented manifest (.manifest, "
            "local or s3://). Default: the official CIFAR-100 URL.",
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated class names; labels 0..k-1 in this order. Archive: CIFAR-100 fine labels "
            "(default bicycle,motorcycle). Image folder: class folder names (default: all, sorted)."
        ),
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="Bucket to stage into (default: the configured bucket).")] = None,
    prefix: Annotated[str, typer.Option(help="Key prefix of the dataset in the bucket.")] = "data",
    test_fraction: Annotated[
        float, typer.Option(help="Share of each class held out as test when the source has no test split.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the stratified test hold-out.")] = 0,
    label_attribute: Annotated[str, typer.Option(help="Augmented manifest attribute holding the class.")] = "class",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Stage without unreadable or truncated files.")] = False,
    allow_leak: Annotated[
        bool, typer.Option("--allow-leak", help="Stage even if one image is in both train and test.")
    ] = False,
) -> None:
    """Stage a dataset (CIFAR-100 classes, or your own images) + .lst files + manifest.json in the object store."""
    from scones.data.stage import DEFAULT_SOURCE, StageOptions, stage

    options = StageOptions(test_fraction, seed, label_attribute, skip_bad, allow_leak)
    store = _common.store()
    names = None if classes is None else classes.split(",")
    with progress_bar() as bar:
        result = stage(
            store, source or DEFAULT_SOURCE, classes=names, bucket=bucket, prefix=prefix, progress=bar, options=options
        )
    for note in result.notes:
        _common.out.print(f"Note: {note}", markup=False, highlight=False, soft_wrap=True)
    _common.out.print(result.summary(), markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("stage")(stage_command)
