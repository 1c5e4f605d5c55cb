"""Stage-1 benchmark: `scones stage` on a synthetic archive of the official size and layout.

Builds (once, cached) a CIFAR-100 python archive with 50,000 train + 10,000 test rows over
100 classes (the real `meta` from ../shared/data/cifar-100-meta when present), then times,
each into a fresh local store:
  - reading + unpickling the archive alone (the floor: staging cannot beat it),
  - staging 2 classes (target <= 20 s), and re-staging them (nothing to do),
  - staging all 100 classes = 60,000 PNGs (target <= 90 s).

    .venv/bin/python bench/stage_bench.py [--workdir /tmp/scones-stage-bench] [--skip-all]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from scones.config import Settings
from scones.data import synthetic
from scones.data.cifar import read_archive, safe_loads
from scones.data.stage import stage
from scones.storage import Store

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
REAL_META = REPO.parent / "shared" / "data" / "cifar-100-meta" / "meta"
TRAIN_PER_CLASS, TEST_PER_CLASS = 500, 100


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    """n x 3072 rows that look like photos to zlib: smooth 8x8 colour fields plus noise."""
    base = rng.integers(0, 256, size=(n, 3, 8, 8), dtype=np.uint8).repeat(4, axis=2).repeat(4, axis=3)
    noise = rng.integers(-12, 13, size=base.shape, dtype=np.int16)
    rows: np.ndarray = np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8).reshape(n, 3072)
    return rows


def _split(rng: np.random.Generator, names: list[str], per_class: int, label: str) -> dict[bytes, object]:
    labels = rng.permutation(np.repeat(np.arange(len(names)), per_class)).tolist()
    files = [f"{names[lab]}_s_{row:06d}.png" for row, lab in enumerate(labels)]
    return synthetic.batch(_images(rng, len(labels)), labels, files, label)


def build_archive(workdir: Path) -> tuple[Path, float]:
    path = workdir / "cifar-100-python-synthetic.tar.gz"
    if path.is_file():
        return path, 0.0
    started = time.perf_counter()
    if REAL_META.is_file():
        meta_bytes = REAL_META.read_bytes()
        names = [n.decode() for n in safe_loads(meta_bytes)[b"fine_label_names"]]
    else:
        names = [f"class_{i:02d}" for i in range(100)]
        meta_bytes = synthetic.py2_pickle(synthetic.meta(names))
    rng = np.random.default_rng(0)
    members = {
        "meta": meta_bytes,
        "train": synthetic.py2_pickle(_split(rng, names, TRAIN_PER_CLASS, "training")),
        "test": synthetic.py2_pickle(_split(rng, names, TEST_PER_CLASS, "testing")),
    }
    tmp = path.with_suffix(".tmp")
    synthetic.write_archive(tmp, members)
    tmp.replace(path)
    return path, time.perf_counter() - started


class PhaseTimer:
    """A Progress that records how long each phase (read, write PNGs, sync) took."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def start(self, description: str, total: int | None = None) -> None:
        self._close()
        self.phases.append((description.split(" (")[0], 0.0))

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def _close(self) -> None:
        now = time.perf_counter()
        if self.phases:
            name, _ = self.phases[-1]
            self.phases[-1] = (name, now - self._last)
        self._last = now

    def report(self) -> dict[str, float]:
        self._close()
        merged: dict[str, float] = {}
        for name, seconds in self.phases:
            key = name.split(" to ")[0]
            merged[key] = round(merged.get(key, 0.0) + seconds, 2)
        print("    phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in merged.items()))
        return merged


def _fresh_store(workdir: Path, name: str) -> Store:
    home = workdir / name
    shutil.rmtree(home, ignore_errors=True)
    return Store(Settings(home=home))


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (the PNG workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


CPU: dict[str, float] = {}


def _timed(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    cpu, started = _cpu(), time.perf_counter()
    value = fn()
    elapsed, used = time.perf_counter() - started, _cpu() - cpu
    CPU[label] = round(used, 2)
    print(f"{label:<44} {elapsed:7.2f} s wall {used:7.2f} s CPU", flush=True)
    return elapsed, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scones-stage-bench"))
    parser.add_argument("--skip-all", action="store_true", help="skip the 100-class run")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    archive, build_s = build_archive(args.workdir)
    size_mb = archive.stat().st_size / 1e6
    print(f"archive {archive} ({size_mb:.0f} MB; built in {build_s:.1f} s); cores: {os.cpu_count()}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    results: dict[str, object] = {"archive_mb": round(size_mb, 1), "cores": os.cpu_count()}

    read_s, data = _timed("read + unpickle archive (floor)", lambda: read_archive(archive))
    rows = sum(len(b) for b in data.splits.values())
    names = data.fine_label_names
    del data
    results["read_s"] = round(read_s, 2)

    two = _fresh_store(args.workdir, "home-2")
    timer = PhaseTimer()
    two_s, result = _timed("stage 2 classes (bicycle, motorcycle)", lambda: stage(two, archive, progress=timer))
    print(f"  -> {result.summary()}")
    results["phases_2"] = timer.report()
    again_s, result = _timed("re-stage 2 classes (nothing to do)", lambda: stage(two, archive))
    print(f"  -> {result.summary()}")
    results.update(stage_2_s=round(two_s, 2), restage_2_s=round(again_s, 2))

    if not args.skip_all:
        every = _fresh_store(args.workdir, "home-100")
        timer = PhaseTimer()
        all_s, result = _timed(
            "stage all 100 classes (60,000 PNGs)", lambda: stage(every, archive, classes=names, progress=timer)
        )
        print(f"  -> {result.summary()}")
        results["phases_100"] = timer.report()
        results["stage_100_s"] = round(all_s, 2)
        shutil.rmtree(every.settings.home, ignore_errors=True)
    shutil.rmtree(two.settings.home, ignore_errors=True)
    results["rows"] = rows
    results["load_after"] = round(os.getloadavg()[0], 1)
    results["cpu_s"] = CPU
    print(json.dumps(results))


if __name__ == "__main__":
    main()
