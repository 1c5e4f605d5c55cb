"""Benchmark of `scones monitor run`: time and peak memory to analyse N captured records.

    .venv/bin/python bench/monitor_bench.py --records 10000 100000 1000000

For each N it writes N captured records (reference section 4, hourly key layout, ~4 MB files
like scones' capture writer) into a scratch scones home, builds a baseline, then analyses the
whole window in a fresh child process (one monitoring execution: read, decode every PNG,
features, checks, figures, report) and reports the child's wall time and peak RSS. Images
are the seed's dev PNGs (../shared/data/bike-moto) cycled, with random brightness so bodies
differ; answers come from the model. Pass --model to use a trained artifact instead of the
tiny test model.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEV = REPO.parent / "shared" / "data" / "bike-moto"
FILE_BYTES = 4 * 1024 * 1024  # scones' capture writer closes a file at 4 MB
T0 = datetime(2026, 3, 12, 0, 0, tzinfo=UTC)


def _pool(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if (DEV / "train.lst").is_file():
        names = [line.split("\t")[2] for line in (DEV / "train.lst").read_text().splitlines() if line.strip()]
        base = np.stack([np.asarray(Image.open(DEV / "train" / n).convert("RGB")) for n in names])
    else:
        base = rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8)
    pick = base[rng.integers(0, len(base), size)].astype(np.float32)
    return np.clip(pick * rng.uniform(0.9, 1.1, (size, 1, 1, 1)), 0, 255).astype(np.uint8)


def _model(location: str | None) -> object:
    from tests.helpers import tiny_artifact

    from scones.model.artifact import load
    from scones.monitor.features import OnnxModel

    return OnnxModel(load(location) if location else tiny_artifact())


def generate(root: Path, count: int, model: object, pool_size: int = 5000) -> int:
    """Write `count` records under root/ep/AllTraffic/yyyy/mm/dd/hh/; returns bytes written."""
    images = _pool(pool_size)
    probabilities, _ = model.predict(images)  # type: ignore[attr-defined]
    bodies = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        bodies.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    answers = [json.dumps([round(float(p), 6) for p in row]) for row in probabilities]
    step = timedelta(days=1) / count  # one day of traffic, whatever the volume
    written = 0
    lines: list[str] = []
    size = 0
    hour = None

    def flush(first: datetime) -> None:
        nonlocal written, size
        folder = root / "ep" / "AllTraffic" / f"{first:%Y/%m/%d/%H}"
        folder.mkdir(parents=True, exist_ok=True)
        data = "".join(lines).encode()
        (folder / f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl").write_bytes(data)
        written += len(data)
        lines.clear()
        size = 0

    first = T0
    for i in range(count):
        when = T0 + i * step
        if lines and (size >= FILE_BYTES or when.hour != hour):
            flush(first)
        if not lines:
            first = when
        hour = when.hour
        j = i % pool_size
        line = (
            '{"captureData": {"endpointInput": {"observedContentType": "image/png", "mode": "INPUT", "data": "'
            + bodies[j]
            + '", "encoding": "BASE64"}, "endpointOutput": {"observedContentType": "application/json", '
            + '"mode": "OUTPUT", "data": "'
            + answers[j]
            + '", "encoding": "JSON"}}, "eventMetadata": {"eventId": "'
            + str(uuid.uuid4())
            + '", "inferenceTime": "'
            + when.strftime("%Y-%m-%dT%H:%M:%SZ")
            + '"}, "eventVersion": "0"}\n'
        )
        lines.append(line)
        size += len(line)
    if lines:
        flush(first)
    return written


def _tree_rss_kib(root: int) -> int:
    """Resident memory of process `root` and all its descendants (from /proc), in KiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[int(entry.name)] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    tree, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def run_child(command: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the analysis child; returns it and the peak RSS of its whole process tree (MiB)."""
    peak = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss_kib(child.pid))
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = child.communicate()
        stop.set()
        sampler.join()
    return subprocess.CompletedProcess(command, child.returncode, out, err), peak / 1024


def analyse(home: Path, capture: Path, baseline: str) -> None:
    """Child process: one monitoring execution; prints a JSON line with time and peak RSS."""
    from scones.config import load_settings
    from scones.monitor.service import RunRequest, run_monitor
    from scones.storage import Store

    settings = load_settings(home=home)
    started = time.perf_counter()
    result = run_monitor(settings, Store(settings), RunRequest(capture=str(capture), baseline=baseline))
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = own.ru_maxrss
    print(
        json.dumps(
            {
                "records": result.window.counts["records"],
                "seconds": round(elapsed, 2),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "status": result.status,
                "violations": len(result.violations),
                "cpu_seconds": round(own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime, 1),
                "worker_peak_rss_mib": round(workers.ru_maxrss / 1024, 1),
                "phases": result.summary.get("seconds", {}),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/scones-monitor-bench"))
    parser.add_argument("--model", help="a trained model.tar.gz (default: the tiny test model)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--analyse", nargs=3, metavar=("HOME", "CAPTURE", "BASELINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.analyse:
        analyse(Path(args.analyse[0]), Path(args.analyse[1]), args.analyse[2])
        return

    from scones.config import load_settings
    from scones.monitor import baseline as baselines
    from scones.monitor.constraints import MonitorConfig
    from scones.storage import Store

    home = args.scratch / "home"
    settings = load_settings(home=home)
    model = _model(args.model)
    reference = _pool(2000, seed=1)
    meta = {"name": "bench", "threshold": 0.93, "model": args.model or ""}
    base = baselines.compute(model, reference[:1000], reference[1000:], None, meta, MonitorConfig())  # type: ignore[arg-type]
    if not args.model:  # the tiny model lives in memory: store it so the run can load it
        from tests.helpers import tiny_artifact

        path = args.scratch / "tiny-model.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tiny_artifact().pack())
        base.meta["model"] = str(path)
    uri = baselines.save(Store(settings), base, "s3://scones/monitoring/bench/baseline")
    print(f"cpus: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    header = ("records", "MB", "wall s", "CPU s", "records/s", "RSS main", "RSS worker", "RSS all", "load")
    print(" ".join(f"{h:>10}" for h in header) + "   phases (s)", flush=True)
    for count in args.records:
        capture = args.scratch / f"capture-{count}"
        if capture.exists():
            subprocess.run(["rm", "-rf", str(capture)], check=True)
        started = time.perf_counter()
        size = generate(capture, count, model)
        generated = time.perf_counter() - started
        child, tree_peak = run_child([sys.executable, __file__, "--analyse", str(home), str(capture), uri])
        if child.returncode != 0:
            print(child.stderr[-2000:])
            raise SystemExit(f"analysis of {count} records failed")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        rate = result["records"] / result["seconds"]
        cells = (
            result["records"],
            f"{size / 1e6:.0f}",
            f"{result['seconds']:.1f}",
            f"{result['cpu_seconds']:.1f}",
            f"{rate:.0f}",
            f"{result['peak_rss_mib']:.0f}",
            f"{result['worker_peak_rss_mib']:.0f}",
            f"{max(tree_peak, result['peak_rss_mib']):.0f}",
            f"{os.getloadavg()[0]:.1f}",
        )
        phases = ", ".join(f"{k} {v:.1f}" for k, v in result["phases"].items())
        print(" ".join(f"{c:>10}" for c in cells) + f"   {phases}; generated in {generated:.0f} s", flush=True)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(capture)], check=True)


if __name__ == "__main__":
    main()
