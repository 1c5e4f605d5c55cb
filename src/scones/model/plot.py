"""The training metrics plot: what the seed watched in CloudWatch, with the kept epoch marked."""

from __future__ import annotations

import io
from typing import Any


def accuracy_plot(epochs: list[dict[str, Any]], best_epoch: int, title: str) -> bytes:
    """PNG bytes: train and validation accuracy per epoch, a marker on the kept (best) epoch."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.subplots()
    x = [e["epoch"] for e in epochs]
    axes.plot(x, [e["train_accuracy"] for e in epochs], label="train accuracy", color="tab:blue")
    axes.plot(x, [e["validation_accuracy"] for e in epochs], label="validation accuracy", color="tab:orange")
    best = next((e for e in epochs if e["epoch"] == best_epoch), None)
    if best is not None:
        axes.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        axes.scatter(
            [best_epoch],
            [best["validation_accuracy"]],
            s=80,
            color="tab:red",
            zorder=3,
            label=f"kept: epoch {best_epoch} ({best['validation_accuracy']:.3f})",
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1.02)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
