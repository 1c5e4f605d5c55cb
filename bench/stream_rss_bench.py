"""Peak memory of training on large images: decoded in memory against streamed by the loader (issue 19).

Builds an image folder of `--images` 224x224 JPEGs (the dev PNGs upscaled, each used several
times with a different crop and mirror so no two files are equal), stages it (train/test
80/20), then for each `data_loading` mode runs in a fresh process: `read_channels` at
`--shape`, one epoch of training batches (augmented as training augments them) and one pass
over the validation batches; optionally (`--train`) a real one-epoch training job with a
small net instead. Prints the process's peak RSS (and its loader workers' largest) and the time.

`--passes` measures `scones evaluate` and `scones monitor baseline` instead, with a model that
takes `--shape` but costs next to nothing (an ONNX graph: mean colour -> linear -> softmax), so
the figure is what each pass holds, not a network's activations for a batch (which a real
model adds to both paths alike); then in a fresh process per path: `memory` is what both did
before they streamed (`read_split` of every split they read, then the model and the image
features on the arrays), `stream` is `evaluate` (on the training split, the larger one) and
`make_baseline` (training split for the image features, test split for the model's outputs)
as they run now. Both print their figures' digest, which must agree.

    .venv/bin/python bench/stream_rss_bench.py [--images 3000] [--shape 3,224,224] [--train | --passes]
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


MODEL_KEY = "models/mean-colour/model.tar.gz"


def mean_colour_model(height: int, width: int) -> bytes:
    """A scones artifact (model.tar.gz) taking (N, 3, height, width): mean colour -> linear -> softmax, two classes."""
    import hashlib

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from scones.model.artifact import Artifact, Manifest, Preprocessing

    weights = np.array([[6.0, -6.0], [0.0, 0.0], [-6.0, 6.0]], dtype=np.float32)  # red -> class 0, blue -> 1
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input", "axes"], ["embedding"], keepdims=0),
            helper.make_node("MatMul", ["embedding", "W"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "mean-colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, height, width])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3]),
        ],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(np.array([2, 3]), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    data = model.SerializeToString()
    manifest = Manifest(
        classes=["bicycle", "motorcycle"],
        preprocessing=Preprocessing(image_shape=(3, height, width), fit="crop"),
        embedding_dim=3,
        training_job="mean-colour",
        model_sha256=hashlib.sha256(data).hexdigest(),
    )
    return Artifact(manifest=manifest, onnx=data).pack()


def measure_passes(home: str, path: str) -> None:
    """`scones evaluate` and `scones monitor baseline` along one path in this process; prints a JSON line."""
    import hashlib

    import numpy as np

    from scones.config import load_settings
    from scones.model import artifact as artifact_module
    from scones.model.evaluate import evaluate, metrics, predict
    from scones.monitor import baseline as baselines
    from scones.monitor.constraints import MonitorConfig
    from scones.monitor.features import OnnxModel
    from scones.monitor.service import BaselineRequest, make_baseline
    from scones.storage import Store

    settings = load_settings(home=Path(home))
    store = Store(settings)
    model, data = f"s3://{settings.bucket}/{MODEL_KEY}", f"s3://{settings.bucket}/data"
    started = time.perf_counter()
    if path == "stream":
        figures = evaluate(settings, model, f"{data}/train", f"{data}/train.lst", store).as_dict()
        base = make_baseline(settings, store, BaselineRequest(model=model))[1]
    else:  # before: every split read whole into memory, then the same computations on the arrays
        from scones.data.dataset import read_split

        art = artifact_module.load(model, store)
        size = art.manifest.preprocessing.image_shape[1:]
        train = read_split(store, f"{data}/train", f"{data}/train.lst", size=size)
        figures = metrics(predict(art, train.images), train.labels, art.classes, settings.threshold)
        test = read_split(store, f"{data}/test", f"{data}/test.lst", size=size)
        meta = {"threshold": settings.threshold}
        base = baselines.compute(OnnxModel(art), train.images, test.images, test.labels, meta, MonitorConfig())
    digest = hashlib.sha256()
    for array in (base.features, base.predicted, base.max_probability, base.embeddings):
        digest.update(np.ascontiguousarray(array).tobytes())
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"path": path, "peak_rss_mb": round(own), "largest_worker_mb": round(workers),
                      "seconds": round(time.perf_counter() - started, 1), "evaluate_accuracy": figures["accuracy"],
                      "baseline_digest": digest.hexdigest()[:16]}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--shape", default="3,224,224")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--passes", action="store_true", help="evaluate and monitor baseline instead of training")
    parser.add_argument("--measure", nargs=2, metavar=("HOME", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure and args.passes:
        measure_passes(*args.measure)
        return
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
    if args.passes:
        settings = load_settings(home=home)
        _, height, width = (int(v) for v in args.shape.split(","))
        Store(settings).put(settings.bucket, MODEL_KEY, mean_colour_model(height, width))
        for path in ("stream", "memory"):
            subprocess.run([sys.executable, __file__, "--passes", "--measure", str(home), path], check=True)
        return
    for mode in ("stream", "memory"):
        command = [sys.executable, __file__, "--measure", str(home), mode, "--shape", args.shape]
        command += ["--train"] if args.train else []
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
