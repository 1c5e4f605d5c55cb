"""Benchmark of the review queue: refresh from captures (first, nothing new, incremental), labels
one at a time, and a bulk import.

    .venv/bin/python bench/review_bench.py --records 20000

Writes N captured records with scones' own capture writer (PNG bodies of the seed's dev images,
or noise without ../shared/data) into a scratch home, every `--low`-th answer below the 0.93
threshold, then times `queue.update` three ways, `queue.label` for 200 items and
`queue.label_many` for the rest. Sampling of confident answers is the default 2%.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEV = REPO.parent / "shared" / "data" / "bike-moto"


def _pngs(count: int) -> list[bytes]:
    if (DEV / "train.lst").is_file():
        names = [line.split("\t")[2] for line in (DEV / "train.lst").read_text().splitlines() if line.strip()]
        images = [np.asarray(Image.open(DEV / "train" / n).convert("RGB")) for n in names[:count]]
    else:
        rng = np.random.default_rng(0)
        images = list(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8))
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def _capture(settings: object, count: int, low_every: int, start: int) -> None:
    from scones.endpoint.capture import CaptureConfig, CaptureWriter
    from scones.storage import Store

    pngs = _pngs(1000)
    writer = CaptureWriter(Store(settings), CaptureConfig(percent=100), "ep")  # type: ignore[arg-type]
    for i in range(start, start + count):
        confidence = 0.7 if i % low_every == 0 else 0.99
        output = json.dumps([confidence, round(1 - confidence, 6)])
        writer.offer(pngs[i % len(pngs)], "image/png", output, "application/json", f"req-{i}")
        if i % 10_000 == 9_999:
            writer.flush()  # the writer's queue holds 20,000 records; beyond that it drops, as it should
    writer.close()
    if writer.written != count:
        raise SystemExit(f"captured {writer.written} of {count} records ({writer.dropped})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--low", type=int, default=10, help="every N-th answer is below the threshold")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["SCONES_HOME"] = home
        from scones.config import load_settings
        from scones.endpoint import table
        from scones.review import queue
        from scones.state import now

        settings = load_settings()
        conn = table.connect(settings)
        config = {"variant": "AllTraffic", "classes": ["bicycle", "motorcycle"]}
        table.put_creating(conn, "ep", "http://127.0.0.1:1", "tiny", config, now())
        conn.close()
        _capture(settings, args.records, args.low, 0)
        began = time.perf_counter()
        first = queue.update(settings, "ep")
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        again = queue.update(settings, "ep")
        again_s = time.perf_counter() - began
        more = max(1, args.records // 20)
        _capture(settings, more, args.low, args.records)
        began = time.perf_counter()
        incremental = queue.update(settings, "ep")
        incremental_s = time.perf_counter() - began
        pending = [i.id for i in queue.items(settings, "ep", "pending")]
        one: list[float] = []
        for item_id in pending[:200]:
            began = time.perf_counter()
            queue.label(settings, "ep", item_id, 1, "bench")
            one.append(time.perf_counter() - began)
        rest = pending[200:]
        began = time.perf_counter()
        queue.label_many(settings, "ep", [(i, 0) for i in rest], "bench")
        bulk_s = time.perf_counter() - began
        began = time.perf_counter()
        reviewed = queue.reviewed(settings, "ep")
        reviewed_s = time.perf_counter() - began
        print(f"load average {os.getloadavg()[0]:.1f}")
        print(f"refresh, {args.records} new records: {first_s:.2f} s, {first.added} queued")
        print(f"refresh, nothing new: {again_s * 1000:.0f} ms, {again.added} queued")
        print(f"refresh, {more} new records: {incremental_s:.2f} s, {incremental.added} queued")
        print(f"label one at a time (200): median {statistics.median(one) * 1000:.1f} ms, max {max(one) * 1000:.1f} ms")
        print(f"label_many ({len(rest)} in one batch): {bulk_s:.2f} s")
        print(f"reviewed() of {len(reviewed)} items with their images: {reviewed_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
