"""Peak memory of training on large images: decoded in memory against streamed by the loader (issue 19).

Builds an image folder of `--images` 224x224 JPEGs (the dev PNGs upscaled, each used several
times with a different crop and mirror so no two files are equal), stages it (train/test
80/20), then for each `data_loading` mode runs in a fresh process: `read_channels` at
`--shape`, one epoch of training batches (augmented as training augments them) and one pass
over the validation batches; optionally (`--train`) a real one-epoch training job with a
small net instead. Prints the process's peak RSS (and its loader workers' largest) and the time.

    .venv/bin/python bench/stream_rss_bench.py [--images 3000] [--shape 3,224,224] [--train]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "data" / "bike-moto"


def build_folder(root: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    lines = [line.split("\t") for line in (DEV / "train.lst").read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(0)
    for i in range(count):
        _, label, name = lines[i % len(lines)]
        image = Image.open(DEV / "train" / name.strip()).convert("RGB")
        left, top = rng.integers(0, 5, size=2)
        image = image.crop((left, top, left + 28, top + 28)).resize((224, 224), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.putpixel((0, 0), (i % 256, i // 256 % 256, 0))  # no two files equal (staging refuses a leak)
        folder = root / ("bicycle" if label == "0" else "motorcycle")
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        (folder / f"{i:05d}.jpg").write_bytes(buffer.getvalue())


def measure(home: str, mode: str, shape: str, train: bool) -> None:
    """One mode in this process; prints a JSON line."""
    import torch

    from scones.config import load_settings
    from scones.model.channels import Channels, read_channels
    from scones.model.hyperparameters import parse
    from scones.model.recipe import augment
    from scones.progress import NullProgress
    from scones.storage import Store

    settings = load_settings(home=Path(home))
    store = Store(settings)
    values = {"image_shape": shape, "data_loading": mode, "mini_batch_size": 64, "random_resized_crop": True}
    started = time.perf_counter()
    if train:
        from scones.model.train import train as run_training

        small = {"architecture": "resnet", "num_layers": 8, "width": 4, "epochs": 1, "calibrate": False}
        record = run_training(settings, {**values, **small}, store=store)
        extra = {"status": record["status"], "validation_accuracy": record["metrics"]["validation_accuracy"]}
    else:
        hp = parse(values)
        data = read_channels(store, Channels.staged(settings), hp, NullProgress())
        generator = torch.Generator().manual_seed(0)
        order = torch.randperm(len(data.y_train), generator=generator)
        steps = len(data.y_train) // hp.mini_batch_size
        pixels = 0.0
        for batch in data.train_batches(order, hp.mini_batch_size, steps):
            pixels += float(augment(batch, hp, generator).mean())
        for batch in data.validation_batches():
            pixels += float(batch.mean())
        extra = {"train_images": len(data.y_train), "validation_images": len(data.y_val)}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "peak_rss_mb": round(own), "largest_worker_mb": round(workers),
                      "seconds": round(time.perf_counter() - started, 1), **extra}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--shape", default="3,224,224")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--measure", nargs=2, metavar=("HOME", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], args.measure[1], args.shape, args.train)
        return
    from scones.config import load_settings
    from scones.data.stage import stage
    from scones.storage import Store

    work = Path(tempfile.mkdtemp(prefix="scones-stream-bench-"))
    build_folder(work / "photos", args.images)
    home = work / "home"
    result = stage(Store(load_settings(home=home)), work / "photos")
    print(f"{args.images} JPEGs of 224x224 staged ({result.counts}); image_shape {args.shape}", flush=True)
    for mode in ("stream", "memory"):
        command = [sys.executable, __file__, "--measure", str(home), mode, "--shape", args.shape]
        command += ["--train"] if args.train else []
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
