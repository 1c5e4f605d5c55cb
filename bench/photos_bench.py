"""Stage-1 benchmark for your own images: `stage` on an image folder of 20,000 640x480 JPEGs.

Builds (once, cached) `<workdir>/photos/<class>/<i>.jpg`: 10 classes x 2,000 photo-like JPEGs
(smooth colour fields plus noise, quality 90), then times, on the warm page cache:
  - reading every file (the I/O floor), and reading + sha256 (what staging cannot avoid);
  - reading + sha256 + `images.inspect` (what staging does per file: JPEG checked at 1/8 scale);
  - a full decode of a 2,000-file sample, scaled to 20,000 (what staging would cost if it decoded);
  - `stage` end to end into a fresh local store (test fraction 0.2), with peak RSS.

    .venv/bin/python bench/photos_bench.py [--workdir /tmp/scones-photos-bench] [--count 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from scones.config import Settings
from scones.data.images import inspect
from scones.data.stage import stage
from scones.storage import Store

CLASSES = 10


def _photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC)
    noise = rng.integers(-10, 11, size=(480, 640, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _write(args: tuple[Path, int, int]) -> int:
    folder, start, stop = args
    for i in range(start, stop):
        path = folder / f"c{i % CLASSES}" / f"{i:06d}.jpg"
        path.write_bytes(_photo(i))
    return stop - start


def build(workdir: Path, count: int) -> tuple[Path, float]:
    folder = workdir / "photos"
    if (folder / "done").is_file():
        return folder, 0.0
    shutil.rmtree(folder, ignore_errors=True)
    for c in range(CLASSES):
        (folder / f"c{c}").mkdir(parents=True)
    started = time.perf_counter()
    step = 500
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_write, [(folder, s, min(s + step, count)) for s in range(0, count, step)]))
    (folder / "done").write_text("ok")
    return folder, time.perf_counter() - started


def _timed(label: str, fn: object, paths: list[Path]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(16, 4 * (os.cpu_count() or 1))) as pool:
        list(pool.map(fn, paths, chunksize=64))  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:7.1f} s  {len(paths) / seconds:8.0f} files/s", flush=True)
    return seconds


def _read(path: Path) -> int:
    return len(path.read_bytes())


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inspect(path: Path) -> str:
    data = path.read_bytes()
    inspect(data, str(path))
    return hashlib.sha256(data).hexdigest()


def _decode(path: Path) -> int:
    with Image.open(path) as image:
        image.load()
        return image.width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scones-photos-bench"))
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    folder, built = build(args.workdir, args.count)
    paths = sorted(folder.glob("c*/*.jpg"))
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} JPEGs, 640x480, {size / 1e6:.0f} MB" + (f" (built in {built:.0f} s)" if built else ""))
    figures = {
        "read": _timed("read bytes", _read, paths),
        "read_sha256": _timed("read + sha256", _hash, paths),
        "read_sha256_inspect": _timed("read + sha256 + inspect (staging's check)", _inspect, paths),
    }
    sample = paths[:: max(1, len(paths) // 2000)]
    figures["full_decode_scaled"] = _timed("full decode, 2,000-file sample", _decode, sample) * len(paths) / len(sample)
    print(f"{'full decode scaled to all files':<44} {figures['full_decode_scaled']:7.1f} s")
    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    result = stage(Store(Settings(home=home)), folder)
    figures["stage"] = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{'stage (end to end, fresh local store)':<44} {figures['stage']:7.1f} s  {len(paths) / figures['stage']:8.0f}"
        f" files/s  peak RSS {rss:.0f} MB"
    )
    print(result.summary())
    print(
        json.dumps({k: round(v, 1) for k, v in figures.items()} | {"peak_rss_mb": round(rss), "cores": os.cpu_count()})
    )


if __name__ == "__main__":
    main()
