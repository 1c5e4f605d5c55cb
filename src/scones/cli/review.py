"""CLI commands of the review stage: the queue of answers people label, and its ground truth.

Thin over `scones.review.queue`. ID is the inferenceId when the caller sent one, else the
eventId; CLASS is a class name or index. `list` refreshes the queue from new captures first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from scones.cli import _common

if TYPE_CHECKING:
    from scones.config import Settings
    from scones.review.queue import Action, Refresh

review_app = typer.Typer(
    help="Review low-confidence answers: list the queue, label, skip, import labels (SageMaker ground truth).",
    no_args_is_help=True,
)

_Name = Annotated[str, typer.Argument(help="Endpoint name.")]
_Id = Annotated[str, typer.Argument(help="Item id: the inferenceId when the caller sent one, else the eventId.")]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_Reviewer = Annotated[str | None, typer.Option(help="Who labels (default: your user name).")]
_SampleConfident = Annotated[
    float | None,
    typer.Option(help="Share of confident answers also queued, 0-1 (env SCONES_SAMPLE_CONFIDENT; default 0.02)."),
]
_SampleDrift = Annotated[
    float | None,
    typer.Option(help="Share of a drifted monitoring window queued, 0-1 (env SCONES_SAMPLE_DRIFT; default 0.1)."),
]


def _refresh(settings: Settings, name: str, confident: float | None, drift: float | None) -> Refresh:
    from scones.config import resolve
    from scones.review.queue import update
    from scones.review.selection import ReviewConfig

    config = resolve(ReviewConfig, {"sample_confident": confident, "sample_drift": drift})
    return update(settings, name, config, _common.store(settings))


@review_app.command("refresh")
def refresh_command(
    name: _Name, sample_confident: _SampleConfident = None, sample_drift: _SampleDrift = None, as_json: _Json = False
) -> None:
    """Add the answers captured since the last refresh to the queue (low-confidence, sampled, drifted)."""
    result = _refresh(_common.settings(), name, sample_confident, sample_drift)
    if as_json:
        _common.print_json(result.as_dict())
        return
    _say(
        f"{result.added} item(s) added from {result.records} new record(s) in {result.files} file(s)"
        + (f"; {result.unusable} unusable line(s) skipped" if result.unusable else "")
    )


@review_app.command("list")
def list_command(
    name: _Name,
    status: Annotated[str, typer.Option(help="pending, labelled, skipped or all.")] = "pending",
    refresh: Annotated[bool, typer.Option("--refresh/--no-refresh", help="Read new captures first.")] = True,
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many, oldest first (0: all).")] = 100,
    as_json: _Json = False,
) -> None:
    """List the queue (pending items by default) with each item's labels so far."""
    from scones.review import queue
    from scones.review.errors import ReviewError

    if status not in (*queue.STATUSES, "all"):
        raise ReviewError(f"Unknown status {status!r}; give one of {', '.join(queue.STATUSES)} or all")
    settings = _common.settings()
    if refresh:
        _refresh(settings, name, None, None)
    info = queue.queue(settings, name)
    found = queue.items(settings, name, None if status == "all" else status, limit=limit or -1)
    actions = _by_item(queue.history(settings, name))
    if as_json:
        _common.print_json(
            [{**i.as_dict(info.classes), "history": [a.as_dict() for a in actions.get(i.id, [])]} for i in found]
        )
        return
    counts = queue.counts(settings, name)
    if not found:
        _say(f"No {status if status != 'all' else ''} items for {name} ({_counts(counts)})".replace("  ", " "))
        return
    from rich.table import Table

    table = Table("id", "status", "variant", "reason", "model says", "confidence", "label", "history")
    for i in found:
        label = "" if i.label is None else info.classes[i.label]
        history = _history(actions.get(i.id, []), info.classes)
        table.add_row(
            i.id, i.status, i.variant, i.reason, info.classes[i.predicted], f"{i.confidence:.3f}", label, history
        )
    _common.out.print(table)
    shown = f"; showing the first {len(found)}" if limit and len(found) == limit else ""
    _say(_counts(counts) + shown)


@review_app.command("describe")
def describe_command(name: _Name, item_id: _Id) -> None:
    """Show one item (without its image) and every label and skip it was given, as JSON."""
    from scones.review import queue

    settings = _common.settings()
    info = queue.queue(settings, name)
    found = queue.item(settings, name, item_id)
    history = [a.as_dict() for a in queue.history(settings, name, item_id)]
    _common.print_json({**found.as_dict(info.classes), "history": history})


@review_app.command("label")
def label_command(
    name: _Name,
    item_id: _Id,
    label: Annotated[str, typer.Argument(metavar="CLASS", help="Class name or index.")],
    reviewer: _Reviewer = None,
) -> None:
    """Label one item; the label is written as SageMaker ground truth (the last label wins)."""
    from scones.review import groundtruth, queue

    settings = _common.settings()
    queue.label(settings, name, item_id, label, reviewer)
    found = queue.item(settings, name, item_id)
    classes = queue.queue(settings, name).classes
    _say(f"{item_id}: {classes[found.label or 0]} (ground truth in {groundtruth.location(settings.bucket, name)})")


@review_app.command("skip")
def skip_command(name: _Name, item_id: _Id, reviewer: _Reviewer = None) -> None:
    """Set one item aside unlabelled."""
    from scones.review import queue

    queue.skip(_common.settings(), name, item_id, reviewer)
    _say(f"{item_id}: skipped")


@review_app.command("undo")
def undo_command(name: _Name, item_id: _Id) -> None:
    """Undo an item's latest label or skip (the label before it wins again)."""
    from scones.review import queue

    settings = _common.settings()
    undone = queue.undo(settings, name, item_id)
    _say(f"{item_id}: undid {undone.action} by {undone.reviewer}; now {queue.item(settings, name, item_id).status}")


@review_app.command("import")
def import_command(
    name: _Name,
    file: Annotated[str, typer.Argument(help="CSV 'id,label' or SageMaker ground-truth JSONL (path or s3:// URI).")],
    reviewer: _Reviewer = None,
) -> None:
    """Label many items from a file, all or nothing."""
    from scones.review import queue
    from scones.review.importing import read_labels

    settings = _common.settings()
    store = _common.store(settings)
    queue.queue(settings, name)  # an unknown endpoint first, before the file
    count = queue.label_many(settings, name, read_labels(store, file), reviewer, store)
    _say(f"{count} label(s) imported into the review queue of {name}")


def _by_item(actions: list[Action]) -> dict[str, list[Action]]:
    grouped: dict[str, list[Action]] = {}
    for action in actions:
        grouped.setdefault(action.item_id, []).append(action)
    return grouped


def _history(actions: list[Action], classes: list[str]) -> str:
    """ann:bicycle > bob:motorcycle; undone ones struck out with ~."""
    parts = []
    for a in actions:
        what = "skip" if a.action == "skip" else classes[a.label or 0]
        parts.append(("~" if a.undone else "") + f"{a.reviewer}:{what}")
    return " > ".join(parts)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _say(text: str) -> None:
    _common.out.print(text, soft_wrap=True, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(review_app, name="review")
