"""Stage-2a benchmark: epoch time of float32 against bfloat16 mixed precision, side by side.

Builds one training run per precision on the same carved split as bench/train_bench.py (720
training, 180 validation images, the default recipe otherwise) and runs their epochs in turn,
float32 then bfloat16, so both see the same machine load; prints each one's median epoch time
and the ratio. Accuracy is not compared here (train_bench.py -p precision_dtype=bfloat16 does).

    .venv/bin/python bench/train_precision.py [--epochs 12] [--workdir /tmp/scones-train-precision]
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
from scones.model.hyperparameters import parse
from scones.model.recipe import native_bfloat16
from scones.model.train import _Run, read_channels
from scones.progress import NullProgress
from scones.storage import Store
from train_bench import DEV_ARCHIVE, carve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs timed per precision")
    parser.add_argument("--workdir", default="/tmp/scones-train-precision")
    args = parser.parse_args()
    home = Path(args.workdir) / "home"
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(home=home)
    store = Store(settings)
    stage(store, str(DEV_ARCHIVE))
    channels = carve(store)
    runs = {}
    for precision in ("float32", "bfloat16"):
        hp = parse({"precision_dtype": precision})
        runs[precision] = _Run(hp, read_channels(store, channels, hp, NullProgress()), print, NullProgress())
    seconds: dict[str, list[float]] = {p: [] for p in runs}
    for epoch in range(args.epochs):
        for precision, run in runs.items():
            started = time.perf_counter()
            run.run_epoch(epoch)
            seconds[precision].append(round(time.perf_counter() - started, 2))
    medians = {p: round(statistics.median(s), 2) for p, s in seconds.items()}
    print(
        json.dumps(
            {
                "native_bfloat16": native_bfloat16(),
                "epoch_seconds": seconds,
                "median_seconds": medians,
                "float32_over_bfloat16": round(medians["float32"] / medians["bfloat16"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
