"""The `scones` command: one Typer app; each command is a thin call into a stage.

Commands live beside this file, one module per stage (`data.py`, `model.py`, `endpoint.py`,
`rollout.py`, `workflow.py`, `monitor.py`, `review.py`, `console.py`, `demo.py`), each with a `register(app)`.
Expected errors (`SconesError`) print one `Error: ...` line and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from scones.cli import (
    _common,
    aws,
    console,
    data,
    demo,
    endpoint,
    loop,
    model,
    models,
    monitor,
    review,
    rollout,
    up,
    workflow,
)
from scones.errors import SconesError


class _Group(TyperGroup):
    """Turns expected errors into one line and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SconesError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="scones",
    cls=_Group,
    help="Ship the bicycle/motorcycle classifier as a scalable, safe, event-driven service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(_common.global_options)

for _module in (data, model, models, endpoint, rollout, workflow, monitor, review, loop, console, demo, aws, up):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
