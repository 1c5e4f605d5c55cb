"""Transfer learning against training from scratch on a new 3-class folder (issue 19).

Source models: scones models trained at 32x32 on bicycle vs motorcycle, on 700 of the dev
archive's 900 training images (350 per class, seeded; the kept epoch chosen on a 20% carved
from them), one with the default augmentation `trivial_wide` (which rotates images by up to
135 degrees, so it is taught to ignore which way up a picture is) and one with `crop` (crop +
mirror only). The other 200 training images and the 100 test images are never seen by them.

New task (a different 3-way question on pictures the source never saw): "which way up is
this picture?" - classes `upright`, `turned90` (a quarter turn counter-clockwise) and
`turned180` (upside down). The label says nothing about bicycle or motorcycle (each class
holds both, about half and half). The 200 unseen training images are each given ONE
rotation (a seeded permutation, 66-67 per class), written as a PNG image folder
`root/train/<class>/`; the 100 test images are written in all three rotations
(`root/test/<class>/`, 100 per class). No picture is in both train and test, nor in the
source model's training data. `scones stage` stages the folder; a stratified 20% of train
is carved off for the kept epoch (~53 images per class left to learn from), the test split
is only evaluated. Both arms use `augmentation_type=crop` (crop + mirror): the default
`trivial_wide` rotates by up to 135 degrees, which would contradict the labels; a mirror
keeps all three classes apart (a mirrored quarter turn is not one of the other classes).

Each seed trains from scratch and from each source artifact
(`-p use_pretrained_model=1 -p pretrained_weights=<source model.tar.gz>`) with the default
`backbone_lr_factor=0.1` and with 1, same epochs, same hyperparameters otherwise. Wall times
are on the shared, loaded machine.

    .venv/bin/python bench/transfer_bench.py [--source-epochs 30] [--epochs 20,60] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photos_train_bench import ARCHIVE, carve

ROTATIONS = {"upright": 0, "turned90": 90, "turned180": 180}


def split_source(store: object, prefix: str, keep: int, seed: int = 0) -> None:
    """<prefix>/source.lst (`keep` per class) and <prefix>/unseen.lst (the rest of train.lst)."""
    from scones.data.dataset import format_lst, read_lst

    entries = read_lst(store, f"s3://scones/{prefix}/train.lst")  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    source = []
    for label in sorted({e.label for e in entries}):
        rows = [e for e in entries if e.label == label]
        source += [rows[i] for i in sorted(rng.permutation(len(rows))[:keep])]
    unseen = [e for e in entries if e not in source]
    store.put("scones", f"{prefix}/source.lst", format_lst(source).encode())  # type: ignore[attr-defined]
    store.put("scones", f"{prefix}/unseen.lst", format_lst(unseen).encode())  # type: ignore[attr-defined]


def rotation_folder(store: object, prefix: str, root: Path, seed: int = 0) -> dict[str, int]:
    """The unseen train images, one rotation each, and every test image in all three rotations."""
    from scones.data.dataset import read_lst

    counts: dict[str, int] = {}
    rng = np.random.default_rng(seed)

    def write(split: str, cls: str, path: str, data: bytes) -> None:
        image = Image.open(io.BytesIO(data)).convert("RGB").rotate(ROTATIONS[cls])
        folder = root / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{Path(path).stem}.png")
        counts[f"{split}/{cls}"] = counts.get(f"{split}/{cls}", 0) + 1

    unseen = read_lst(store, f"s3://scones/{prefix}/unseen.lst")  # type: ignore[arg-type]
    names = list(ROTATIONS)
    for turn, i in enumerate(rng.permutation(len(unseen))):
        e = unseen[i]
        write("train", names[turn % 3], e.path, store.get("scones", f"{prefix}/train/{e.path}"))  # type: ignore[attr-defined]
    for e in read_lst(store, f"s3://scones/{prefix}/test.lst"):  # type: ignore[arg-type]
        data = store.get("scones", f"{prefix}/test/{e.path}")  # type: ignore[attr-defined]
        for cls in names:
            write("test", cls, e.path, data)
    return counts


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-epochs", type=int, default=30)
    parser.add_argument("--epochs", default="20,60", help="comma-separated: each count is run for both arms")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--source-augmentations", default="trivial_wide,crop", help="one source model each")
    parser.add_argument("--backbone-lr-factors", default="0.1,1", help="each transfer arm with each")
    args = parser.parse_args()
    from scones.config import load_settings
    from scones.data.stage import stage
    from scones.model.channels import Channels
    from scones.model.evaluate import evaluate
    from scones.model.train import train
    from scones.storage import Store

    work = Path(tempfile.mkdtemp(prefix="scones-transfer-"))
    settings = load_settings(home=work / "home")
    store = Store(settings)
    stage(store, ARCHIVE, prefix="cifar")
    split_source(store, "cifar", keep=350)
    # the source model's own carved validation, from its 700 images only
    store.put("scones", "cifar/train.lst", store.get("scones", "cifar/source.lst"))
    carve(store, "cifar")
    sources: dict[str, str] = {}
    for augmentation in args.source_augmentations.split(","):
        started = time.perf_counter()
        source = train(
            settings, {"epochs": args.source_epochs, "augmentation_type": augmentation},
            channels=Channels(
                train="s3://scones/cifar/train", validation="s3://scones/cifar/train",
                train_lst="s3://scones/cifar/carved-train.lst", validation_lst="s3://scones/cifar/carved-val.lst",
            ), store=store,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        test = ("s3://scones/cifar/test", "s3://scones/cifar/test.lst")
        held = evaluate(settings, source["artifact_uri"], *test, store)
        sources[augmentation] = source["artifact_uri"]
        print(json.dumps({
            "run": "source", "task": "bicycle vs motorcycle, 700 images", "augmentation_type": augmentation,
            "epochs": args.source_epochs, "train_seconds": round(seconds),
            "kept_epoch": source["metrics"]["best_epoch"], "held_out_accuracy": round(held.accuracy, 4),
        }), flush=True)  # fmt: skip

    counts = rotation_folder(store, "cifar", work / "rotations")
    stage(store, work / "rotations", prefix="rot")
    carve(store, "rot")
    print(json.dumps({"run": "folder", "images": counts}), flush=True)
    channels = Channels(
        train="s3://scones/rot/train", validation="s3://scones/rot/train",
        train_lst="s3://scones/rot/carved-train.lst", validation_lst="s3://scones/rot/carved-val.lst",
    )  # fmt: skip
    arms: dict[str, dict[str, object]] = {"scratch": {}}
    for augmentation, uri in sources.items():
        for factor in args.backbone_lr_factors.split(","):
            arms[f"transfer from {augmentation} source, backbone_lr_factor={factor}"] = {
                "use_pretrained_model": 1, "pretrained_weights": uri, "backbone_lr_factor": factor,
            }  # fmt: skip
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    for epochs, seed in [(int(e), int(s)) for e in args.epochs.split(",") for s in args.seeds.split(",")]:
        for arm, extra in arms.items():
            hp = {"num_classes": 3, "epochs": epochs, "augmentation_type": "crop", "seed": seed, **extra}
            started = time.perf_counter()
            record = train(settings, hp, channels=channels, store=store)
            seconds = time.perf_counter() - started
            test = ("s3://scones/rot/test", "s3://scones/rot/test.lst")
            result = evaluate(settings, record["artifact_uri"], *test, store)
            row = {
                "run": arm, "seed": seed, "epochs": epochs, "train_seconds": round(seconds, 1),
                "kept_epoch": record["metrics"]["best_epoch"],
                "carved_validation_accuracy": round(record["metrics"]["validation_accuracy"], 4),
                "held_out_accuracy": round(result.accuracy, 4), "held_out_images": result.images,
            }  # fmt: skip
            results.setdefault((epochs, arm), []).append(row)
            print(json.dumps(row), flush=True)
    for (epochs, arm), rows in results.items():
        print(json.dumps({
            "summary": arm, "epochs": epochs, "held_out_accuracy": spread([r["held_out_accuracy"] for r in rows]),
            "train_seconds": spread([r["train_seconds"] for r in rows]),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
