"""Stage-2a benchmark: default `scones train` accuracy, calibration and wall time.

Stages the development archive (900 train + 100 test images) into a fresh local store, carves
a stratified validation split (20%) out of train, and trains with scones' default
hyperparameters (plus any -p KEY=VALUE) on the rest: hyperparameters are chosen on that
validation split only. The 100 test images are touched once, at the end, through ONNX Runtime
(`scones.model.evaluate`): accuracy, share of top probability >= 0.93, expected calibration error.

`--timing` instead trains the defaults on the 1000 images of ../shared/data/bike-moto (the
seed's training set; validation = the staged test split) to check the wall-time target
(<= 10 minutes on 2 cores for 1000 training images); its accuracy is not reported because
those 1000 images include the test images.

    .venv/bin/python bench/train_bench.py [-p epochs=60 ...] [--timing] [--workdir /tmp/scones-train-bench]
                                          [--carve-seed 12345] [--no-test] [--views] [--full]

`--full` is the final measure of a recipe already chosen: it trains on all 900 dev training images,
as a user's `scones train` does, then evaluates on the 100 test images. Its validation channel is
the carved split, which it also trains on, so the kept epoch is chosen among late epochs without
looking at the test split, and calibration is off (a temperature fitted on training images would
be meaningless): the test figures are those of the raw net.

`--views` also stores the last epoch's weights and prints its validation accuracy under each
test-time augmentation (none, mirror, mirror + 1-pixel shifts): one run compares them all.
`--carve-seed` carves a different validation split (to confirm a small difference); `--no-test`
skips the test split, for tuning runs that must not look at it. Besides the kept (best) epoch's
validation accuracy, which is optimistic (the maximum over epochs of a noisy figure), the last
epoch's and the mean of the last five are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from scones.config import load_settings
from scones.data.dataset import LstEntry, format_lst, parse_lst
from scones.data.stage import stage
from scones.model.channels import Channels
from scones.model.evaluate import evaluate
from scones.model.hyperparameters import Hyperparameters, parse, parse_pairs
from scones.model.train import train
from scones.storage import Store

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DEV_ARCHIVE = SHARED / "cifar-100-python-bike-moto-dev.tar.gz"
BIKE_MOTO = SHARED / "bike-moto"


def carve(store: Store, fraction: float = 0.2, seed: int = 12345) -> Channels:
    """Split data/train.lst into carved-train.lst and carved-validation.lst (stratified, seeded)."""
    entries = parse_lst(store.get("scones", "data/train.lst").decode())
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for label in sorted({e.label for e in entries}):
        rows = [i for i, e in enumerate(entries) if e.label == label]
        held.update(rng.permutation(rows)[: round(len(rows) * fraction)].tolist())
    parts: dict[str, list[LstEntry]] = {"train": [], "validation": []}
    for i, e in enumerate(entries):
        parts["validation" if i in held else "train"].append(e)
    for name, part in parts.items():
        store.put("scones", f"data/carved-{name}.lst", format_lst(part).encode())
    return Channels(
        train="s3://scones/data/train",
        validation="s3://scones/data/train",
        train_lst="s3://scones/data/carved-train.lst",
        validation_lst="s3://scones/data/carved-validation.lst",
    )


def by_views(store: Store, name: str, hp: Hyperparameters, channels: Channels) -> dict[str, float]:
    """The last epoch's stored weights, validated with each test-time augmentation."""
    import io

    import torch

    from scones.data.dataset import read_split
    from scones.model.artifact import Preprocessing
    from scones.model.net import NetConfig, build, tta_embed

    checkpoint = torch.load(io.BytesIO(store.get("scones", f"models/{name}/checkpoints/epoch-{hp.epochs - 1:04d}.pt")))
    net = build(NetConfig(**checkpoint["config"]), hp.seed)
    net.load_state_dict(checkpoint["state_dict"])
    net.eval()
    split = read_split(store, channels.validation, channels.validation_lst)
    pre = Preprocessing(image_shape=hp.shape)
    x = torch.from_numpy(split.images.transpose(0, 3, 1, 2).copy()).float() / 255
    x = (x - torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(pre.std).view(1, 3, 1, 1)
    y = torch.from_numpy(split.labels)
    result = {}
    with torch.no_grad():
        for label, flip, shift in (("none", False, False), ("mirror", True, False), ("mirror+shift", True, True)):
            predicted = net.classify(tta_embed(net, x, flip, shift)).argmax(1)
            result[label] = round(float((predicted == y).float().mean()), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-p", "--hyperparameter", action="append", default=[])
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--workdir", default="/tmp/scones-train-bench")
    parser.add_argument("--carve-seed", type=int, default=12345)
    parser.add_argument("--no-test", action="store_true", help="do not evaluate on the test split")
    parser.add_argument("--views", action="store_true", help="validation accuracy per test-time augmentation")
    parser.add_argument("--full", action="store_true", help="train on all 900 training images, then test")
    args = parser.parse_args()
    overrides = parse_pairs(args.hyperparameter)
    hp = parse(overrides)
    if args.views:
        hp = hp.replace(checkpoint_frequency=hp.epochs)
    if args.full:
        hp = hp.replace(calibrate=False)
    home = Path(args.workdir) / "home"
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(home=home)
    store = Store(settings)
    stage(store, str(DEV_ARCHIVE))
    if args.timing:
        channels = Channels.staged(settings, train=str(BIKE_MOTO / "train"), train_lst=str(BIKE_MOTO / "train.lst"))
    else:
        channels = carve(store, seed=args.carve_seed)
    if args.full:
        channels = replace(channels, train_lst="s3://scones/data/train.lst")
    started, cpu_started = time.monotonic(), time.process_time()
    record = train(settings, hp, channels, store=store)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_started  # CPU: every thread of this process
    metrics = record["metrics"]
    epochs = metrics["epochs"]
    result = {
        "hyperparameters": overrides or "defaults",
        "mode": "timing (1000 bike-moto images)"
        if args.timing
        else "full (900, validation within them) + test (100)"
        if args.full
        else "carved validation (720/180) + test (100)",
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "epochs_run": metrics["epochs_run"],
        "images_per_second": round(metrics["images_per_second"], 1),
        "epoch_seconds_median": round(float(np.median([e["seconds"] for e in epochs])), 2),
        "kept_epoch": metrics["best_epoch"],
        "temperature": metrics["temperature"],
        "precision": hp.precision_dtype,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if not args.timing and not args.full:
        result["validation_accuracy"] = round(metrics["validation_accuracy"], 4)
        result["validation_accuracy_last"] = round(epochs[-1]["validation_accuracy"], 4)
        result["validation_accuracy_last5"] = round(float(np.mean([e["validation_accuracy"] for e in epochs[-5:]])), 4)
        result["carve_seed"] = args.carve_seed
        if args.views:
            result["last_epoch_validation_by_views"] = by_views(store, record["name"], hp, channels)
    if not args.timing and not args.no_test:
        test = evaluate(settings, record["name"], "s3://scones/data/test", "s3://scones/data/test.lst", store=store)
        result |= {
            "test_accuracy": round(test.accuracy, 4),
            "test_share_top_ge_0.93": round(test.confident_share, 4),
            "test_accuracy_among_confident": test.confident_accuracy and round(test.confident_accuracy, 4),
            "test_ece": round(test.expected_calibration_error, 4),
            "test_confusion": test.confusion,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
