"""Drift checks end to end on a live endpoint: send same-distribution and shifted traffic, monitor each.

    SCONES_HOME=... .venv/bin/python bench/monitor_shifts.py [--endpoint NAME] [--count 300]

Needs a running endpoint with data capture (for example what `scones demo` leaves) and its
baseline (`scones monitor baseline --endpoint NAME`). For each kind of traffic (the seed's dev
images as they are, then darker, blurred, noisy, grayscale, rotated, and crops of an unrelated
photo) it POSTs `--count` PNGs to the endpoint, waits for the capture writer to flush, runs
one monitoring execution on exactly that time window and prints the checks that fired and
the embedding MMD^2. The same-distribution row should fire nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEV = REPO.parent / "shared" / "data" / "bike-moto"
KINDS = ("same", "darker", "blurred", "noisy", "grayscale", "rotated", "other_objects")


def main() -> None:
    from tests.monitor.support import dev_images, png, shift

    from scones.config import load_settings
    from scones.endpoint.registry import describe
    from scones.monitor.service import RunRequest, run_monitor
    from scones.storage import Store

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    settings = load_settings()
    store = Store(settings)
    record = describe(settings, args.endpoint or settings.endpoint_name)
    images, _ = dev_images(DEV)
    chosen = images[np.random.default_rng(7).permutation(len(images))[: args.count]]
    print(f"endpoint {record.name} at {record.url}, model {record.model}")
    print(f"{'traffic':>14} {'records':>7} {'MMD^2':>8}  violations")
    with httpx.Client(timeout=30) as client:
        for kind in KINDS:
            batch = chosen if kind == "same" else shift(chosen, kind)
            # inferenceTime has whole seconds: start on a fresh second, end on the next whole one
            time.sleep(1.05 - time.time() % 1)
            since = datetime.now(UTC).replace(microsecond=0)
            for image in batch:
                client.post(
                    f"{record.url}/invocations", content=png(image), headers={"Content-Type": "image/png"}
                ).raise_for_status()
            until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            deadline = time.monotonic() + 60  # the capture writer holds records for a few seconds
            while time.monotonic() < deadline and _captured(store, record.name, since, until) < len(batch):
                time.sleep(1)
            result = run_monitor(settings, store, RunRequest(endpoint=record.name, since=since, until=until))
            mmd = next(r for r in result.results if r.check_type == "embedding_drift_check").statistic
            fired = sorted({f"{v['constraint_check_type']}:{v['feature_name']}" for v in result.violations})
            shown = f"{mmd:8.4f}" if mmd is not None else f"{'-':>8}"
            print(f"{kind:>14} {result.window.counts['records']:>7} {shown}  {', '.join(fired) or 'none'}", flush=True)


def _captured(store: object, endpoint: str, since: datetime, until: datetime) -> int:
    """Records the endpoint's capture holds for the window so far."""
    from scones.monitor.captured import iter_records
    from scones.monitor.sources import endpoint_info

    capture = endpoint_info(store.settings, endpoint).capture  # type: ignore[attr-defined]
    return sum(1 for _ in iter_records(store, capture, since, until))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
