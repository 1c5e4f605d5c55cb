"""bench/drift_power.py's core, scones only (no peers' venv): shifted windows are reported, windows
of the baseline's own distribution are not, and a peer's calibration keeps its false alarms at 1%."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "bench" / "drift_power.py"


def drift_power() -> ModuleType:
    """The script as a module (registered first: its dataclass looks its module up)."""
    if "drift_power" in sys.modules:
        return sys.modules["drift_power"]
    spec = importlib.util.spec_from_file_location("drift_power", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drift_power"] = module
    spec.loader.exec_module(module)
    return module


def test_strong_shifts_are_detected_and_same_distribution_windows_are_not(dev_archive: Path) -> None:
    bench = drift_power()
    # the tiny test model (embedding: channel means); 300 dev images, two shifts at severity 5
    data, info = bench.measure(None, (5,), 0, ("gaussian_blur", "grayscale"), 300)
    assert data["embeddings"].shape[:2] == (info["variants"], 300) == (4, 300)
    params = {"seed": 1, "sizes": [100], "severities": [5], "windows": 2, "nulls": 4, "reference": 150}
    plan = bench.trials(info["names"], info["images"], params)
    assert sorted({t.shift for t in plan}) == ["gaussian_blur", "grayscale", "none", "other_objects"]
    for trial in plan:
        assert not set(trial.reference) & set(trial.window)  # a window's images are never in its baseline
    verdicts = {t.shift: [] for t in plan}
    for trial in plan:
        verdicts[trial.shift].append(bench.scones_detects(data, trial, info["classes"]))
    assert verdicts["none"] == [False] * 4
    assert verdicts["gaussian_blur"] == verdicts["grayscale"] == verdicts["other_objects"] == [True] * 2


def test_shifts_change_images_more_with_severity() -> None:
    bench = drift_power()
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 0.8, (4, 32, 32, 3))
    for name, shift in bench.SHIFTS.items():
        changes = [np.abs(np.clip(shift(images, s, np.random.default_rng(1)), 0, 1) - images).mean() for s in (1, 5)]
        assert 0 < changes[0] < changes[1], name


def test_calibration_keeps_false_alarms_at_one_percent() -> None:
    bench = drift_power()
    uniform = np.linspace(0.001, 1, 200)  # p-values of a valid test: 2 of 200 below 0.01
    assert bench.calibrate("p", 0.01, uniform) == 0.01
    liberal = np.concatenate([np.full(20, 1e-4), uniform[20:]])  # 20 of 200 would fire at 0.01
    threshold = bench.calibrate("p", 0.01, liberal)
    assert threshold < 0.01 and bench.fires("p", threshold, liberal).mean() <= 0.01
    scores = np.concatenate([np.full(10, 0.9), np.full(190, 0.5)])  # a score that fires above 0.55
    threshold = bench.calibrate("score", 0.55, scores)
    assert threshold == 0.9 and bench.fires("score", threshold, scores).sum() == 0
    assert bench.smallest_window({50: 0.4, 100: 0.9, 200: 1.0}) == 100
    assert bench.smallest_window({50: 0.1, 500: 0.8}) is None


def test_a_run_cut_short_has_the_same_share_of_every_cell() -> None:
    bench = drift_power()
    names = [("clean", 0), ("grayscale", 3), ("other_objects", 0)]
    params = {"seed": 0, "sizes": [50, 100], "severities": [3], "windows": 4, "nulls": 20, "reference": 100}
    plan = bench.trials(names, 300, params)
    order = bench.round_robin(plan)
    assert sorted(order) == list(range(len(plan)))
    first = [plan[i] for i in order[: len(plan) // 2]]  # half the budget: half of each cell
    assert sum(t.shift == "none" for t in first) == 20 and sum(t.shift == "grayscale" for t in first) == 4


def test_equal_false_alarm_calibration_spends_the_same_budget_as_scones() -> None:
    """The equal variant loosens a peer whose default fires less than scones did, and tightens one that fires more."""
    bench = drift_power()
    uniform = np.linspace(0.001, 1, 200)  # 2 of 200 below 0.01
    loose = bench.calibrate("p", 0.001, uniform, 0.01, equal=True)  # default fires on none; allowed 2
    assert loose > 0.001 and bench.fires("p", loose, uniform).sum() == 2
    tight = bench.calibrate("p", 0.01, uniform, 0.0, equal=True)  # scones raised none: neither may the peer
    assert bench.fires("p", tight, uniform).sum() == 0
    scores = np.linspace(0.4, 0.6, 200)  # a score that fires above its default 0.55 on 49 of 200
    assert bench.fires("score", bench.calibrate("score", 0.55, scores, 0.005, equal=True), scores).sum() == 1


def test_false_alarm_upper_bound_and_windows_per_severity() -> None:
    bench = drift_power()
    assert round(bench.upper_bound(0, 200), 4) == 0.0149  # 0 of 200: the rule of three, 3/200
    assert 0.01 < bench.upper_bound(1, 200) < bench.upper_bound(2, 200) < 0.04
    params = {"windows": 2, "windows_s3": 20}
    assert bench.windows_for(params, 3) == 20 and bench.windows_for(params, 1) == bench.windows_for(params, 5) == 2
    names = [("clean", 0), ("grayscale", 1), ("grayscale", 3), ("other_objects", 0)]
    plan = bench.trials(
        names, 300, {"seed": 0, "sizes": [50], "severities": [1, 3], "nulls": 3, "reference": 100} | params
    )
    counts = {(t.shift, t.severity): 0 for t in plan}
    for t in plan:
        counts[(t.shift, t.severity)] += 1
    assert counts == {
        ("none", 0): 3,
        ("grayscale", 1): 2,
        ("grayscale", 3): 20,
        ("other_objects", 1): 2,
        ("other_objects", 3): 20,
    }
