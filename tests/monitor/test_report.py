from __future__ import annotations

import io

import numpy as np
from PIL import Image

from scones.monitor import report
from scones.monitor.window import COLUMNS, Window


def _window(n: int) -> Window:
    rng = np.random.default_rng(0)
    rows = np.full((n, len(COLUMNS)), np.nan)
    rows[:, 0] = 1_773_000_000 + np.arange(n) * 30.0
    rows[:, 1] = rng.uniform(0.5, 1.0, n)
    rows[:, 3] = rng.integers(0, 2, n)
    images = rng.integers(0, 256, (min(n, 16), 32, 32, 3), dtype=np.uint8)
    grid = {
        "images": images,
        "time": rows[: len(images), 0],
        "predicted": rows[: len(images), 3],
        "max_probability": rows[: len(images), 1],
    }
    return Window(["bicycle", "motorcycle"], 0.93, {}, np.zeros(2, np.int64), rows, images, grid, (None, None))


def _png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_every_figure_is_a_png_even_for_an_empty_window() -> None:
    for window in (_window(300), _window(0)):
        pictures = report.figures(window, np.linspace(0.5, 1, 50))
        assert list(pictures) == list(report.FIGURES)
        assert all(_png(data)[0] >= 300 for data in pictures.values())


def test_html_embeds_pictures_and_escapes_text() -> None:
    summary = {
        "name": "<ep>",
        "run_id": "r",
        "status": "CompletedWithViolations",
        "records": 3,
        "sampled": 3,
        "capture": "c",
        "baseline": "b",
        "read": {
            "files": 1,
            "corrupt_files": 0,
            "skipped_files": 0,
            "lines": 3,
            "corrupt_lines": 1,
            "problems": ["f:1: not JSON <script>"],
        },
        "violations": [
            {"feature_name": "image.brightness", "constraint_check_type": "baseline_drift_check", "description": "d"}
        ],
    }
    page = report.html(summary, [], {"x.png": b"\x89PNG"})
    assert "&lt;ep&gt;" in page and "<script>" not in page and "data:image/png;base64,iVBORw==" in page
    assert "baseline_drift_check" in page
