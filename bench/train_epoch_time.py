"""Stage-2a benchmark: the epoch time of training recipes, side by side in one process.

Builds one training run per recipe on the same carved split as bench/train_bench.py (720
training, 180 validation images, the defaults plus each recipe's KEY=VALUE pairs) and runs
their epochs in turn, so all of them see the same machine load; prints each one's median epoch
time and its ratio to the first. Accuracy is not compared here (train_bench.py does that).
With no recipes it compares float32 and bfloat16 mixed precision.

    .venv/bin/python bench/train_epoch_time.py [--epochs 12] ["width=64" "width=32" ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from scones.config import load_settings
from scones.data.stage import stage
from scones.errors import SconesError
from scones.model.channels import read_channels
from scones.model.hyperparameters import parse, parse_pairs
from scones.model.recipe import native_bfloat16
from scones.model.run import Run
from scones.progress import NullProgress
from scones.storage import Store
from train_bench import DEV_ARCHIVE, carve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "recipes",
        nargs="*",
        default=["precision_dtype=float32", "precision_dtype=bfloat16"],
        help='space-separated KEY=VALUE pairs per recipe, e.g. "width=32 epochs=320"; "" is the defaults',
    )
    parser.add_argument("--epochs", type=int, default=12, help="epochs timed per recipe")
    parser.add_argument("--workdir", default="/tmp/scones-train-epoch-time")
    args = parser.parse_args()
    try:  # every recipe checked before any work: a typo is one line, not a traceback after staging
        recipes = {recipe or "defaults": parse(parse_pairs(recipe.split())) for recipe in args.recipes}
    except SconesError as exc:
        parser.error(str(exc))
    home = Path(args.workdir) / "home"
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(home=home)
    store = Store(settings)
    stage(store, str(DEV_ARCHIVE))
    channels = carve(store)
    runs = {}
    for recipe, hp in recipes.items():
        runs[recipe] = Run(hp, read_channels(store, channels, hp, NullProgress()), NullProgress())
    seconds: dict[str, list[float]] = {r: [] for r in runs}
    for epoch in range(args.epochs):
        for recipe, run in runs.items():
            started = time.perf_counter()
            run.run_epoch(epoch)
            seconds[recipe].append(round(time.perf_counter() - started, 2))
    medians = {r: round(statistics.median(s), 2) for r, s in seconds.items()}
    first = next(iter(medians.values()))
    print(
        json.dumps(
            {
                "native_bfloat16": native_bfloat16(),
                "epoch_seconds": seconds,
                "median_seconds": medians,
                "ratio_to_first": {r: round(m / first, 2) for r, m in medians.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
