"""Safe rollout benchmark: the cost of two production variants and of a 100% shadow.

    .venv/bin/python bench/rollout_bench.py [--seconds 6] [--rounds 3] [--concurrency 8,64]

Three registered endpoints (`scones deploy`, one worker each, capture off), all serving the
same ResNet-20 (random weights; speed does not depend on them) so only the routing differs:
- single:   one variant, AllTraffic (what every endpoint was before issue 17);
- variants: two production variants A and B at 50/50 (two ORT sessions, two batchers);
- shadow:   AllTraffic plus a shadow getting a copy of every request (twice the inference work).
Load comes from endpoint_bench.py's asyncio HTTP/1.1 client in its own process. Rounds are
interleaved (single, variants, shadow, single, ...) so the shared machine's load hits all three
alike; the table gives medians and each round's throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="8,64")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="scones-rollout-bench-"))
    try:
        report = run(workdir, levels, args.seconds, args.rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def run(workdir: Path, levels: list[int], seconds: float, rounds: int) -> dict[str, Any]:
    from scones.config import ensure_home, load_settings
    from scones.endpoint import registry
    from scones.endpoint.server import endpoint_config
    from scones.endpoint.variants import Variant

    model, _ = eb.build_model(workdir)
    settings = load_settings(home=workdir / "home")
    ensure_home(settings)
    m = str(model)
    shapes = {
        "single": [Variant("AllTraffic", m)],
        "variants": [Variant("A", m, 0.5), Variant("B", m, 0.5)],
        "shadow": [Variant("AllTraffic", m), Variant("Shadow", m, 1.0, shadow=True)],
    }
    ports: dict[str, int] = {}
    try:
        for shape, wanted in shapes.items():
            config = endpoint_config(settings, name=f"bench-{shape}", port=0, workers=1, capture_percent=0)
            record = registry.deploy(settings, config, None, timeout=120, production_variants=wanted)
            ports[shape] = int(record.config["port"])
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {s: {c: [] for c in levels} for s in shapes}
        for _ in range(rounds):
            for c in levels:
                for shape in shapes:
                    runs[shape][c].append(eb.load_once(ports[shape], c, seconds, env))
    finally:
        for shape in ports:
            registry.delete(settings, f"bench-{shape}")
    return {
        "seconds": seconds, "rounds": rounds, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "results": {shape: {str(c): eb.combine(runs[shape][c]) for c in levels} for shape in shapes},
    }  # fmt: skip


if __name__ == "__main__":
    main()
