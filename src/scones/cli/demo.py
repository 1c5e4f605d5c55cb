"""`scones demo`: the whole seed system on the embedded defaults, one stage after another.

Each stage adds its step below, in the order data flows; a step reuses what an earlier run
left (no retraining unless asked) so re-running is cheap.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar


def demo(
    source: Annotated[
        str | None,
        typer.Option(help="CIFAR-100 python archive (URL or path) or an image folder with .lst files."),
    ] = None,
) -> None:
    """Run the whole pipeline end to end and say where to look."""
    settings = _common.settings()
    store = _common.store(settings)

    from scones.data.stage import DEFAULT_SOURCE, stage

    _common.err.rule("1 data: stage CIFAR-100 bicycle/motorcycle")
    with progress_bar() as bar:
        result = stage(store, source or DEFAULT_SOURCE, progress=bar)
    _common.out.print(result.summary())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
