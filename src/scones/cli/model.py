"""CLI commands of the model stage (thin: parse, call the stage, print)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar


def train_command(
    name: Annotated[
        str | None, typer.Option(help="Training job name (default: image-classification-<UTC timestamp>).")
    ] = None,
    hyperparameter: Annotated[
        list[str] | None,
        typer.Option(
            "--hyperparameter",
            "-p",
            help="KEY=VALUE with SageMaker's names, e.g. -p epochs=30 -p num_layers=32 (repeatable).",
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Staged dataset prefix (default: s3://<bucket>/data, what 'scones stage' wrote).")
    ] = None,
    train: Annotated[str | None, typer.Option("--train", help="Train channel: folder of images.")] = None,
    validation: Annotated[str | None, typer.Option(help="Validation channel (default: the staged test split).")] = None,
    train_lst: Annotated[str | None, typer.Option(help="train_lst channel: the .lst of the train images.")] = None,
    validation_lst: Annotated[str | None, typer.Option(help="validation_lst channel.")] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Train even if a completed job used the same data and hyperparameters.")
    ] = False,
) -> None:
    """Train the image classifier (a SageMaker-style training job) and store model.tar.gz."""
    from scones.model.channels import Channels
    from scones.model.hyperparameters import parse, parse_pairs
    from scones.model.train import reusable_job

    hp = parse(parse_pairs(hyperparameter or []))  # bad values fail here, before reading any data
    settings = _common.settings()
    channels = Channels.located(
        settings, data, train=train, validation=validation, train_lst=train_lst, validation_lst=validation_lst
    )
    if hp.pretrain_on_other_classes:
        _pretrain_then_train(settings, hp, channels, (data or f"s3://{settings.bucket}/data").rstrip("/"), name)
        return
    if not retrain and name is None:
        reused = reusable_job(settings, _common.store(settings), channels, hp.as_dict())
        if reused is not None:
            _common.out.print(
                f"Reusing training job {reused['name']} (same data and hyperparameters; --retrain to train again): "
                f"{reused['artifact_uri']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return
    record = _run_training(settings, hp, channels, name)
    _print_result(record)
    if record["status"] == "Stopped":
        raise typer.Exit(130)


def train_or_reuse(settings: Any, retrain: bool = False) -> dict[str, Any]:
    """The demo's step: default training on the staged data, unless a finished job already did it."""
    from scones.model.channels import Channels
    from scones.model.hyperparameters import parse
    from scones.model.train import reusable_job

    hp, channels = parse(), Channels.staged(settings)
    record = None if retrain else reusable_job(settings, _common.store(settings), channels, hp.as_dict())
    if record is not None:
        _common.out.print(f"Reusing training job {record['name']} (--retrain to train again)", markup=False)
    else:
        record = _run_training(settings, hp, channels, None)
    _print_result(record)
    return record


def _run_training(settings: Any, hp: Any, channels: Any, name: str | None) -> dict[str, Any]:
    from scones.model.train import train

    with progress_bar() as bar:
        return train(settings, hp, channels, name=name, progress=bar, store=_common.store(settings))


def _pretrain_then_train(settings: Any, hp: Any, channels: Any, data: str, name: str | None) -> None:
    from scones.model.pretrain import pretrain_then_train

    with progress_bar() as bar:
        store = _common.store(settings)
        record = pretrain_then_train(settings, hp, channels, data, store=store, name=name, progress=bar)
    _print_result(record)
    if record["status"] == "Stopped":
        raise typer.Exit(130)


def _print_result(record: dict[str, Any]) -> None:
    metrics = record.get("metrics") or {}
    line = f"Training job {record['name']}: {record['status']}"
    if "best_epoch" in metrics:
        line += (
            f"; kept epoch {metrics['best_epoch']} (validation accuracy {metrics['validation_accuracy']:.4f}), "
            f"{metrics['epochs_run']} epochs in {record['duration_seconds']:.0f} s "
            f"({metrics['images_per_second']:.0f} images/s)"
        )
    _common.out.print(line, markup=False, highlight=False, soft_wrap=True)
    if record.get("artifact_uri"):
        _common.out.print(f"Model: {record['artifact_uri']}", markup=False, highlight=False, soft_wrap=True)
    if record.get("failure_reason"):
        _common.out.print(f"Note: {record['failure_reason']}", markup=False, highlight=False, soft_wrap=True)


def training_jobs_command(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status (InProgress, Completed, ...).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """List training jobs, newest first."""
    from rich.table import Table

    from scones.model.jobs import list_jobs

    records = list_jobs(_common.settings(), status=status)
    if json_output:
        _common.print_json([{k: v for k, v in r.items() if k != "metrics"} for r in records])
        return
    if not records:
        _common.out.print("No training jobs yet; run 'scones train'.")
        return
    table = Table("name", "status", "validation accuracy", "epochs", "duration", "created")
    for r in records:
        m = r["metrics"] or {}
        accuracy = f"{m['validation_accuracy']:.4f}" if "validation_accuracy" in m else "-"
        epochs = str(m.get("epochs_run", len(m.get("epochs", []))))
        duration = f"{r['duration_seconds']:.0f} s" if r["duration_seconds"] is not None else "-"
        table.add_row(r["name"], r["status"], accuracy, epochs, duration, r["created"])
    _common.out.print(table)


def describe_training_job_command(name: Annotated[str, typer.Argument(help="The training job name.")]) -> None:
    """Show one training job as JSON (like 'aws sagemaker describe-training-job')."""
    from scones.model.jobs import describe

    _common.print_json(describe(_common.settings(), name))


def evaluate_command(
    model: Annotated[str, typer.Option(help="Training job name, s3:// URI of model.tar.gz, or a local path.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="A staged split: its image folder; the .lst is <data>.lst (default s3://<bucket>/data/test)."
        ),
    ] = None,
    lst: Annotated[str | None, typer.Option(help="The split's .lst when it is not <data>.lst.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Accuracy, per-class precision/recall, confusion matrix, confident share and calibration."""
    from scones.model.evaluate import evaluate

    settings = _common.settings()
    images = (data or f"s3://{settings.bucket}/data/test").rstrip("/")
    with progress_bar() as bar:
        result = evaluate(settings, model, images, lst or f"{images}.lst", store=_common.store(settings), progress=bar)
    if json_output:
        _common.print_json(result.as_dict())
        return
    out = _common.out
    out.print(f"Model {result.model} on {result.data} ({result.images} images)", markup=False, highlight=False)
    out.print(f"accuracy {result.accuracy:.4f}")
    for c in result.classes:
        figures = f"precision {result.precision[c]:.4f}  recall {result.recall[c]:.4f}  f1 {result.f1[c]:.4f}"
        out.print(f"  {c}: {figures}", markup=False)
    macro = result.macro
    out.print(f"macro average: precision {macro['precision']:.4f}  recall {macro['recall']:.4f}  f1 {macro['f1']:.4f}")
    out.print("confusion (rows true, columns predicted): " + str(result.confusion))
    confident = "" if result.confident_accuracy is None else f", accuracy among them {result.confident_accuracy:.4f}"
    out.print(f"top probability >= {result.threshold}: {result.confident_share:.1%} of predictions{confident}")
    out.print(f"expected calibration error {result.expected_calibration_error:.4f}")


DEFAULT_ARCHIVE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"  # data.stage.DEFAULT_SOURCE, kept light


def pretrain_command(
    source: Annotated[
        str, typer.Option("--source", help="The full CIFAR-100 python archive (local path or URL).")
    ] = DEFAULT_ARCHIVE,
    targets: Annotated[
        str, typer.Option("--classes", help="The target classes, left out of pretraining (comma-separated).")
    ] = "bicycle,motorcycle",
    hyperparameter: Annotated[
        list[str] | None,
        typer.Option("--hyperparameter", "-p", help="KEY=VALUE for the pretraining job (repeatable)."),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Where the other classes are staged in the bucket.")] = "pretrain",
    name: Annotated[str | None, typer.Option(help="Training job name.")] = None,
) -> None:
    """Pretrain on every CIFAR-100 class but the targets; then fine-tune with -p use_pretrained_model=1."""
    from scones.model.hyperparameters import parse_pairs
    from scones.model.pretrain import pretrain

    settings = _common.settings()
    with progress_bar() as bar:
        record = pretrain(
            settings, source, [t.strip() for t in targets.split(",") if t.strip()],
            parse_pairs(hyperparameter or []), store=_common.store(settings), prefix=prefix, name=name, progress=bar,
        )  # fmt: skip
    _print_result(record)
    if record["status"] == "Completed":
        weights = record["artifact_uri"]
        _common.out.print(
            f"Fine-tune on the targets: scones train -p use_pretrained_model=1 -p pretrained_weights={weights}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("train")(train_command)
    app.command("training-jobs")(training_jobs_command)
    app.command("describe-training-job")(describe_training_job_command)
    app.command("evaluate")(evaluate_command)
    app.command("pretrain")(pretrain_command)
