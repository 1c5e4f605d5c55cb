"""Stage-2a frontier: carved-validation accuracy against training time, per schedule and lever.

Runs `bench/train_bench.py --no-test --views` once per recipe and carve (a child process each,
`-p threads=1`, so two invocations can share the two cores as in issue #3's round 4) and appends
its figures, its CPU seconds and the machine load to a JSON file; then draws the frontier from
that file. The test split is never read here: every figure is on 180 validation images carved
from the 900 training images (720 trained).

    .venv/bin/python bench/train_frontier.py --recipe "epochs=40" --recipe "epochs=80" --carves 12345 1 2
    .venv/bin/python bench/train_frontier.py --plot-only

Time axis: the estimated wall minutes of `scones train` on 1000 images with 2 threads on a
quiet machine. Wall time on this shared machine says little, so runs are placed against the one
wall figure measured on a quiet machine: the default recipe (320 epochs) took 572 s
(docs/benchmarks.md). The default recipe with E epochs is at 572 s x E / 320 (the same work an
epoch); any other recipe at 572 s x E / 320 x its CPU seconds per trained image-epoch / the
median of the default recipe's runs' (CPU seconds themselves vary ~20% with the load).

Accuracy: the kept epoch's (the best of the run's epochs on the same 180 images, so optimistic,
more so the longer the schedule) and the mean of the last five epochs; and the last epoch under
each test-time view (none, mirror, mirror + 1-pixel shifts). The 320-epoch point of issue #3's
round 4 stands in for the default when no 320-epoch run is in the results.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "images" / "training_frontier.json"
PLOT = REPO / "docs" / "images" / "training_frontier.svg"
QUIET_DEFAULT_SECONDS = 572.2  # default recipe, 1000 images, 2 threads, quiet machine (docs/benchmarks.md)
DEFAULT_EPOCHS = 320
# The default recipe itself, carve 12345, seed 0: run N1 of issue #3's round 4 (docs/benchmarks-history.md),
# same protocol; not re-run here (320 epochs took ~14 min of a loaded machine then, over an hour today).
ROUND4_DEFAULT: dict[str, Any] = {
    "recipe": "epochs=320",
    "minutes": QUIET_DEFAULT_SECONDS / 60,
    "kept": 0.961,
    "last5": 0.941,
}


@contextmanager
def locked(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The results list, read and written back under an exclusive lock (two invocations may append)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"{path.name}.lock", "w") as lock:  # beside nothing in the repo
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
        yield runs
        path.write_text(json.dumps(runs, indent=1) + "\n")


def run_one(recipe: str, carve: int, workdir: Path) -> dict[str, Any]:
    """One train_bench.py run: its JSON result, plus the load and the child's CPU seconds."""
    pairs = [p for p in recipe.split() if p]
    command = [sys.executable, str(REPO / "bench" / "train_bench.py"), "--no-test", "--views"]
    command += ["--carve-seed", str(carve), "--workdir", str(workdir), "-p", "threads=1"]
    for pair in pairs:
        command += ["-p", pair]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    before = os.times()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    after = os.times()
    result: dict[str, Any] = json.loads(out[out.index("{") :])
    return {
        "recipe": recipe or "defaults",
        "carve": carve,
        "command": " ".join(command[1:]).replace(str(REPO) + "/", ""),
        "uptime_before": uptime_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "child_cpu_seconds": round(
            (after.children_user - before.children_user) + (after.children_system - before.children_system), 1
        ),
        **result,
    }


def epochs_of(run: dict[str, Any]) -> int:
    return int(run["epochs_run"])


def is_schedule(recipe: str) -> bool:
    """The default recipe with only its length changed."""
    return all(pair == "defaults" or pair.startswith("epochs=") for pair in recipe.split())


def estimated_minutes(run: dict[str, Any], per_image_epoch: float) -> float:
    """Wall minutes for 1000 images on 2 quiet cores (module docstring).

    The default recipe does the same work every epoch, so its runs are placed by their epochs;
    another recipe by its CPU seconds per image-epoch against the default's (`per_image_epoch`).
    """
    relative = 1.0 if is_schedule(run["recipe"]) else run["cpu_seconds"] / (720 * epochs_of(run)) / per_image_epoch
    return QUIET_DEFAULT_SECONDS * relative * epochs_of(run) / DEFAULT_EPOCHS / 60


def default_cost(runs: list[dict[str, Any]]) -> float:
    """CPU seconds per trained image-epoch of the default recipe at any schedule length (median)."""
    costs = [r["cpu_seconds"] / (720 * epochs_of(r)) for r in runs if is_schedule(r["recipe"])]
    return statistics.median(costs)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recipe: mean over carves of kept / last five / last-epoch views, and the time estimate."""
    per_image_epoch = default_cost(runs)
    rows = []
    for recipe in dict.fromkeys(r["recipe"] for r in runs):
        group = [r for r in runs if r["recipe"] == recipe]
        views = {
            k: statistics.mean(r["last_epoch_validation_by_views"][k] for r in group)
            for k in group[0]["last_epoch_validation_by_views"]
        }
        rows.append(
            {
                "recipe": recipe,
                "carves": [r["carve"] for r in group],
                "minutes": round(statistics.mean(estimated_minutes(r, per_image_epoch) for r in group), 2),
                "kept": round(statistics.mean(r["validation_accuracy"] for r in group), 4),
                "kept_range": [
                    min(r["validation_accuracy"] for r in group),
                    max(r["validation_accuracy"] for r in group),
                ],
                "last5": round(statistics.mean(r["validation_accuracy_last5"] for r in group), 4),
                "last_by_views": {k: round(v, 4) for k, v in views.items()},
                "cpu_seconds": [r["cpu_seconds"] for r in group],
                "load_1m": [r["load_average_1m"] for r in group],
            }
        )
    return sorted(rows, key=lambda row: row["minutes"])


def plot(rows: list[dict[str, Any]], path: Path, carve: int) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only
    matplotlib.rcParams["svg.hashsalt"] = "scones"  # the same figures give the same file (no random ids)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=100)
    axes = figure.subplots()
    schedules = [r for r in rows if is_schedule(r["recipe"])]
    if not any(r["recipe"] == f"epochs={DEFAULT_EPOCHS}" for r in schedules):
        schedules.append(ROUND4_DEFAULT)
    schedules.sort(key=lambda r: r["minutes"])
    others = [r for r in rows if not is_schedule(r["recipe"])]
    for key, label, style in (("kept", "kept epoch", "o-"), ("last5", "mean of the last five epochs", "s--")):
        xs, ys = [r["minutes"] for r in schedules], [r[key] for r in schedules]
        axes.plot(xs, ys, style, label=f"default recipe, epochs varied: {label}")
    measured = [r for r in schedules if "last_by_views" in r]
    for view, style in (("mirror", "x:"), ("mirror+shift", "+:")):
        ys = [r["last_by_views"][view] for r in measured]
        axes.plot([r["minutes"] for r in measured], ys, style, label=f"the same, last epoch, test-time views: {view}")
    for r in schedules:
        label = r["recipe"].replace("epochs=", "") + " epochs" + (" (round 4)" if r is ROUND4_DEFAULT else "")
        axes.annotate(label, (r["minutes"], r["kept"]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    for r in others:
        axes.plot([r["minutes"]] * 2, [r["last5"], r["kept"]], "^-", color="tab:red", markersize=5)
        axes.annotate(r["recipe"], (r["minutes"], r["kept"]), textcoords="offset points", xytext=(4, -2), fontsize=7)
    if others:
        axes.plot([], [], "^-", color="tab:red", label="other levers (last five .. kept epoch)")
    for minutes in (5, 10):
        axes.axvline(minutes, color="grey", linestyle=":", linewidth=1)
    axes.axhline(0.97, color="tab:green", linestyle=":", linewidth=1, label="goal 0.97")
    axes.set_xlabel("estimated minutes of scones train: 1000 images, 2 quiet cores (scaled from CPU seconds)")
    axes.set_ylabel("validation accuracy, 180 images carved from train")
    axes.set_title(f"Stage 2a: accuracy against training time, carve {carve}, seed 0 (test split not used)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lstrip("."), metadata={"Date": None} if path.suffix == ".svg" else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", action="append", default=[], help='space-separated KEY=VALUE pairs, "" = defaults')
    parser.add_argument("--carves", type=int, nargs="+", default=[12345])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scones-train-frontier"))
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--plot-carve", type=int, default=12345, help="the carve whose runs are plotted")
    args = parser.parse_args()
    for recipe in [] if args.plot_only else args.recipe:
        for carve in args.carves:
            with locked(args.results) as runs:
                done = any(r["recipe"] == (recipe or "defaults") and r["carve"] == carve for r in runs)
            if done:
                continue
            started = time.monotonic()
            result = run_one(recipe, carve, args.workdir / f"{os.getpid()}")
            print(
                f"{recipe or 'defaults'} carve {carve}: kept {result['validation_accuracy']} last5 "
                f"{result['validation_accuracy_last5']} cpu {result['cpu_seconds']} s "
                f"wall {time.monotonic() - started:.0f} s",
                flush=True,
            )
            with locked(args.results) as runs:
                runs.append(result)
    with locked(args.results) as runs:
        rows = summarise([r for r in runs if r["carve"] == args.plot_carve])  # one carve: points comparable
    print(json.dumps(rows, indent=1))
    plot(rows, args.plot, args.plot_carve)


if __name__ == "__main__":
    main()
