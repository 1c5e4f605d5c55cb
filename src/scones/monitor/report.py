"""The pictures and the HTML report of a monitoring run.

The seed's two figures (the confidence of each inference over time against the threshold; a
grid of captured images titled with predicted class and confidence), plus the class mix over
time and the confidence histogram against the baseline's. Matplotlib is imported here only,
lazily, through its object API on the Agg canvas (no pyplot global state, no display).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from scones.monitor.window import Window

MAX_POINTS = 20_000  # points in the confidence scatter
FIGURES = ("confidence_over_time.png", "captured_images.png", "class_mix_over_time.png", "confidence_histogram.png")


def _figure(width: float, height: float, **margins: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins, not a layout engine: constrained layout costs ~1 s per figure here.
    figure = Figure(figsize=(width, height), dpi=100)
    figure.subplots_adjust(**{"left": 0.1, "right": 0.97, "top": 0.9, "bottom": 0.22, **margins})
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _time_axis(axes: Any, figure: Any) -> None:
    """UTC clock times on the x axis (matplotlib's default shows microseconds for short windows)."""
    import matplotlib.dates as mdates

    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]  # matplotlib stubs
    axes.set_xlabel("time (UTC)")
    figure.autofmt_xdate()


def _dates(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> datetime64 (UTC), which matplotlib plots natively and fast."""
    return (np.asarray(seconds) * 1000).astype("datetime64[ms]")


def confidence_over_time(window: Window) -> bytes:
    """Each inference's confidence (max-probability) over time, with the filter's threshold."""
    figure = _figure(8, 3.5)
    axes = figure.add_subplot()
    rows = window.rows
    ok = ~np.isnan(rows[:, 0]) & ~np.isnan(rows[:, 1])
    times, conf = rows[ok, 0], rows[ok, 1]
    if len(times) > MAX_POINTS:  # the sample is uniform already; a subset of it still is
        keep = np.random.default_rng(0).choice(len(times), MAX_POINTS, replace=False)
        times, conf = times[keep], conf[keep]
    if len(times):
        low = conf < window.threshold
        axes.scatter(_dates(times[~low]), conf[~low], s=8, color="tab:blue", label="confident")
        axes.scatter(_dates(times[low]), conf[low], s=8, color="tab:red", label="below threshold")
    axes.axhline(
        window.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {window.threshold:g}"
    )
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("confidence (max probability)")
    axes.set_title(f"Confidence of each inference ({len(times)} shown)")
    axes.legend(loc="lower left", fontsize=8)
    _time_axis(axes, figure)
    return _png(figure)


def image_grid(window: Window) -> bytes:
    """Captured images titled with the predicted class and confidence (a uniform sample).

    Drawn as one mosaic in one axes: a subplot per image costs ~0.1 s each in layout.
    """
    grid = window.grid
    order = np.argsort(grid["time"]) if len(grid["time"]) else np.empty(0, dtype=np.int64)
    count = max(len(order), 1)
    cols = min(count, 8)
    rows = int(np.ceil(count / cols))
    figure = _figure(max(1.5 * cols, 4.0), 1.7 * rows, left=0.01, right=0.99, top=0.99, bottom=0.01)
    axes = figure.add_subplot()
    axes.axis("off")
    if not len(order):
        axes.text(0.5, 0.5, "no decodable captured images", ha="center", transform=axes.transAxes)
        return _png(figure)
    height, width = grid["images"].shape[1:3]
    pad, title = 2, 10  # pixels between tiles and above each for its title
    cell_h, cell_w = height + pad + title, width + pad
    mosaic = np.full((rows * cell_h, cols * cell_w, 3), 255, np.uint8)
    for slot, i in enumerate(order):
        r, c = divmod(slot, cols)
        y, x = r * cell_h + title, c * cell_w
        mosaic[y : y + height, x : x + width] = grid["images"][i]
        name = window.classes[int(grid["predicted"][i])]
        conf = float(grid["max_probability"][i])
        colour = "tab:red" if conf < window.threshold else "black"
        axes.text(x + width / 2, y - 1, f"{name} {conf:.2f}", ha="center", va="bottom", fontsize=7, color=colour)
    axes.imshow(mosaic, interpolation="nearest")
    return _png(figure)


def class_mix_over_time(window: Window, bins: int = 20) -> bytes:
    """The share of each predicted class per time bin (stacked)."""
    figure = _figure(8, 3.5)
    axes = figure.add_subplot()
    rows = window.rows
    ok = ~np.isnan(rows[:, 0]) & (rows[:, 3] >= 0)
    times, predicted = rows[ok, 0], rows[ok, 3].astype(np.int64)
    if len(times):
        lo, hi = float(times.min()), float(times.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        slot = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, bins - 1)
        counts = np.zeros((bins, len(window.classes)))
        np.add.at(counts, (slot, predicted), 1)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        centres = _dates((edges[:-1] + edges[1:]) / 2)
        axes.stackplot(centres, shares.T, labels=window.classes, alpha=0.8)
        axes.legend(loc="upper left", fontsize=8)
        _time_axis(axes, figure)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of predictions")
    axes.set_title("Predicted class mix over time")
    return _png(figure)


def confidence_histogram(window: Window, baseline_max_prob: np.ndarray | None) -> bytes:
    """The window's confidence distribution against the baseline's (densities)."""
    figure = _figure(6, 3.5, left=0.12, bottom=0.15)
    axes = figure.add_subplot()
    bins = np.linspace(0, 1, 41)
    values = window.column("max_probability")
    if baseline_max_prob is not None and len(baseline_max_prob):
        axes.hist(baseline_max_prob, bins=bins, density=True, alpha=0.5, label="baseline", color="tab:gray")
    if len(values):
        axes.hist(values, bins=bins, density=True, alpha=0.6, label="window", color="tab:blue")
    axes.axvline(
        window.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {window.threshold:g}"
    )
    axes.set_xlabel("confidence (max probability)")
    axes.set_ylabel("density")
    axes.set_title("Confidence: window vs baseline")
    axes.legend(loc="upper left", fontsize=8)
    return _png(figure)


def figures(window: Window, baseline_max_prob: np.ndarray | None) -> dict[str, bytes]:
    """Every figure of a run, by file name."""
    return dict(
        zip(
            FIGURES,
            (
                confidence_over_time(window),
                image_grid(window),
                class_mix_over_time(window),
                confidence_histogram(window, baseline_max_prob),
            ),
            strict=True,
        )
    )


def html(summary: dict[str, Any], results: Sequence[dict[str, Any]], pictures: dict[str, bytes]) -> str:
    """The report page; pictures are embedded (data URIs) so the one file can be shared."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("scones.monitor", "templates"), autoescape=select_autoescape(["html"]))
    embedded = {name: base64.b64encode(data).decode("ascii") for name, data in pictures.items()}
    template = env.get_template("report.html")
    return template.render(summary=summary, results=results, pictures=embedded)
