"""Training on photos against the 32x32 path, same data (issue 19).

The dev archive (../shared/data, 900 train / 100 test, bicycle and motorcycle) is staged as
it is (32x32 PNGs) and, a second time, as an image folder of 96x96 JPEGs (each staged PNG
upscaled, bicubic, quality 90; train/ and test/ kept). Each is trained with the same
hyperparameters, `image_shape` 3,32,32 and 3,64,64 respectively, validating on a stratified
20% carved from train (seeded; the kept epoch is chosen on it, never on test), then the kept
model is evaluated on the held-out test split. Training wall time is printed: the machine is
shared by several jobs, so it is an upper bound of what two free cores take. So are the
process's CPU seconds during training and the load average before and after: CPU seconds / 2
is what the run would take if it had both cores to itself (a lower bound: no contention).

    .venv/bin/python bench/photos_train_bench.py [--epochs 40] [--seeds 0 1 2] [--paths photos cifar]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ARCHIVE = REPO.parent / "shared" / "data" / "cifar-100-python-bike-moto-dev.tar.gz"


def carve(store: object, prefix: str, seed: int = 0) -> None:
    """<prefix>/carved-train.lst and carved-val.lst: a stratified 80/20 split of <prefix>/train.lst."""
    from scones.data.dataset import format_lst, read_lst

    entries = read_lst(store, f"s3://scones/{prefix}/train.lst")  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    val = []
    for label in sorted({e.label for e in entries}):
        rows = [e for e in entries if e.label == label]
        picked = rng.permutation(len(rows))[: len(rows) // 5]
        val += [rows[i] for i in sorted(picked)]
    train = [e for e in entries if e not in val]
    store.put("scones", f"{prefix}/carved-train.lst", format_lst(train).encode())  # type: ignore[attr-defined]
    store.put("scones", f"{prefix}/carved-val.lst", format_lst(val).encode())  # type: ignore[attr-defined]


def photo_folder(store: object, prefix: str, root: Path) -> None:
    """The staged 32x32 PNGs as root/<split>/<class>/*.jpg at 96x96."""
    from scones.data.dataset import read_lst, read_manifest

    classes = read_manifest(store, f"s3://scones/{prefix}")["classes"]  # type: ignore[arg-type]
    for split in ("train", "test"):
        for e in read_lst(store, f"s3://scones/{prefix}/{split}.lst"):  # type: ignore[arg-type]
            data = store.get("scones", f"{prefix}/{split}/{e.path}")  # type: ignore[attr-defined]
            image = Image.open(io.BytesIO(data)).convert("RGB").resize((96, 96), Image.Resampling.BICUBIC)
            folder = root / split / classes[e.label]
            folder.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
            (folder / (Path(e.path).stem + ".jpg")).write_bytes(buffer.getvalue())


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds: one run of each path per seed"
    )
    parser.add_argument(
        "--paths", nargs="+", choices=["photos", "cifar"], default=["photos", "cifar"],
        help="which to train: the 64 px photo folder, the 32x32 path, or both (default)",
    )  # fmt: skip
    args = parser.parse_args()
    from scones.config import load_settings
    from scones.data.stage import stage
    from scones.model.channels import Channels
    from scones.model.evaluate import evaluate
    from scones.model.train import train
    from scones.storage import Store

    work = Path(tempfile.mkdtemp(prefix="scones-photos-train-"))
    settings = load_settings(home=work / "home")
    store = Store(settings)
    stage(store, ARCHIVE, prefix="cifar")
    photo_folder(store, "cifar", work / "photos")
    stage(store, work / "photos", prefix="photos")
    for prefix in ("photos", "cifar"):
        carve(store, prefix)
    runs = [
        (seed, prefix, shape)
        for seed in args.seeds
        for prefix, shape in (("photos", "3,64,64"), ("cifar", "3,32,32"))
        if prefix in args.paths
    ]
    for seed, prefix, shape in runs:  # per seed, the 64 px run first
        channels = Channels(
            train=f"s3://scones/{prefix}/train", validation=f"s3://scones/{prefix}/train",
            train_lst=f"s3://scones/{prefix}/carved-train.lst", validation_lst=f"s3://scones/{prefix}/carved-val.lst",
        )  # fmt: skip
        load_before = os.getloadavg()[0]
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        hyperparameters = {"image_shape": shape, "epochs": args.epochs, "seed": seed}
        record = train(settings, hyperparameters, channels=channels, store=store)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        result = evaluate(
            settings, record["artifact_uri"], f"s3://scones/{prefix}/test", f"s3://scones/{prefix}/test.lst", store
        )
        metrics = record["metrics"]
        print(json.dumps({
            "data": prefix, "image_shape": shape, "epochs": args.epochs, "seed": seed, "train_seconds": round(seconds),
            "train_cpu_seconds": round(cpu), "load_1min_before_after": [load_before, os.getloadavg()[0]],
            "kept_epoch": metrics["best_epoch"], "carved_validation_accuracy": round(metrics["validation_accuracy"], 4),
            "held_out_accuracy": round(result.accuracy, 4), "held_out_images": result.images,
            "macro_f1": round(result.macro["f1"], 4),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
