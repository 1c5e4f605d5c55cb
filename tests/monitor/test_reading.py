from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from scones.monitor.constraints import MonitorConfig
from scones.monitor.reading import WindowSpec, merge, read_window
from scones.monitor.window import COLUMNS, Reservoir, Window
from scones.storage import Store
from tests.helpers import png_bytes
from tests.monitor.support import T0, record, write_capture


def _part(ids: np.ndarray, config: MonitorConfig, seed: int) -> Window:
    """A partial window whose sampled rows carry record ids in the time column."""
    reservoir = Reservoir(config.max_rows, np.random.default_rng(seed))
    for start in range(0, len(ids), 16):
        rows = np.full((len(ids[start : start + 16]), len(COLUMNS)), np.nan)
        rows[:, 0] = ids[start : start + 16]
        reservoir.add(rows)
    (rows,) = reservoir.arrays()
    empty = np.empty(0)
    return Window(
        classes=["a", "b"],
        threshold=0.93,
        counts={"records": len(ids)},
        class_counts=np.zeros(2, np.int64),
        rows=rows,
        embedding_images=np.empty((0, 32, 32, 3), np.uint8),
        grid={
            "images": np.empty((0, 32, 32, 3), np.uint8),
            "time": empty,
            "predicted": empty,
            "max_probability": empty,
        },
        time_range=(float(ids.min()), float(ids.max())),
        read={"files": 1, "problems": []},
        seen={"rows": len(ids), "embedding": 0, "grid": 0},
    )


def test_merged_samples_stay_uniform() -> None:
    config = MonitorConfig(max_rows=50)
    hits = np.zeros(300)
    for seed in range(400):
        parts = [_part(np.arange(0, 40), config, seed * 3), _part(np.arange(40, 300), config, seed * 3 + 1)]
        merged = merge(parts, replace(config, seed=seed))
        assert len(merged.rows) == 50 and merged.seen["rows"] == 300 and merged.counts["records"] == 300
        assert len(set(merged.rows[:, 0].tolist())) == 50
        hits[merged.rows[:, 0].astype(int)] += 1
    # each record kept with probability 50/300 (~67 of 400 merges), in the small part as in the large one
    assert abs(hits[:40].mean() - 66.7) < 6 and abs(hits[40:].mean() - 66.7) < 3
    assert merged.read["files"] == 2 and merged.time_range == (0.0, 299.0)


def test_worker_processes_give_the_same_counts(tmp_path: Path, store: Store) -> None:
    colours = [(200, 20, 20), (20, 20, 200), (128, 128, 128)]
    bodies = [
        record(png_bytes(colours[i % 3]), [0.97, 0.03] if i % 3 == 0 else [0.4, 0.6], T0 + timedelta(seconds=30 * i))
        for i in range(240)
    ]
    write_capture(tmp_path, bodies, per_file=20)
    (tmp_path / "ep" / "AllTraffic" / "broken.jsonl").write_text("{oops\n")
    serial = WindowSpec(["a", "b"], 0.93, MonitorConfig(workers=1))
    parallel = WindowSpec(["a", "b"], 0.93, MonitorConfig(workers=2, parallel_min_mb=0))
    one = read_window(store, str(tmp_path), serial)
    two = read_window(store, str(tmp_path), parallel)
    assert one.counts == two.counts and one.class_counts.tolist() == two.class_counts.tolist() == [80, 160]
    assert {k: v for k, v in one.read.items() if k != "problems"} == {
        k: v for k, v in two.read.items() if k != "problems"
    }
    assert one.read["corrupt_lines"] == 1 and len(two.rows) == 240 and two.time_range == one.time_range
    np.testing.assert_allclose(np.sort(one.rows[:, 0]), np.sort(two.rows[:, 0]))
