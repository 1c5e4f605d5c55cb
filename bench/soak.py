"""Soak the endpoint: N concurrent clients for a long time with capture at 100% (issue 9).

    .venv/bin/python bench/soak.py [--seconds 600] [--concurrency 32] [--json out.json]

A real `scones serve` process (the tiny test model, so HTTP handling and capture dominate)
on 127.0.0.1 with capture at 100% into a local bucket under a fresh SCONES_HOME. Clients are
raw keep-alive HTTP/1.1 connections on one asyncio loop (a light client leaves the cores to
the server), each request with a unique X-Amzn-SageMaker-Inference-Id. Every 10 s the
server's resident memory (VmRSS) is sampled. At the end the server gets SIGTERM (which
flushes capture) and the captured records are read back: their inference ids must be exactly
the ids of the accepted (200) requests.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from endpoint_bench import free_port, wait_ready  # noqa: E402  (sibling script: one copy of the helpers)

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 10.0


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB, from /proc (no psutil in the lock file)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def images(count: int = 200) -> list[bytes]:
    """Varied real PNGs: random pixels, sizes 16-32, some RGBA/greyscale."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        side = int(rng.integers(16, 33))
        image = Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
        image = image.convert(("RGB", "RGBA", "L")[i % 3])
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def start_server(home: Path, model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    from scones.config import environ_with

    env = environ_with(SCONES_HOME=str(home), PYTHONPATH=str(REPO / "src"))
    command = [sys.executable, "-c", "from scones.cli import main; main()", "serve", "--model", str(model)]
    command += ["--port", str(port), "--capture-percent", "100"]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


class Tally:
    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.statuses: dict[str, int] = {}
        self.errors: list[str] = []  # transport failures and non-200 answers

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def _client(k: int, port: int, bodies: list[bytes], stop: float, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.monotonic() < stop:
            body = bodies[(k * 7 + i) % len(bodies)]
            inference_id = f"soak-{k}-{i}"
            i += 1
            head = (
                f"POST /invocations HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: image/png\r\n"
                f"x-amzn-sagemaker-inference-id: {inference_id}\r\ncontent-length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head + body)
            reply = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in reply.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            status = reply[9:12].decode()
            tally.count(status)
            if status == "200":
                tally.accepted.add(inference_id)
            elif len(tally.errors) < 20:
                tally.errors.append(f"{status} {payload[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        tally.errors.append(f"client {k}: {type(exc).__name__}: {exc}")
        tally.count("transport")
    finally:
        writer.close()


async def _sampler(pid: int, stop: float, started: float, tally: Tally, samples: list[dict[str, Any]]) -> None:
    while True:
        done = sum(tally.statuses.values())
        samples.append(
            {"t": round(time.monotonic() - started), "rss_mib": round(rss_kib(pid) / 1024, 1), "requests": done}
        )
        print(f"t={samples[-1]['t']:4d}s rss={samples[-1]['rss_mib']:7.1f} MiB requests={done}", flush=True)
        if time.monotonic() >= stop:
            return
        await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, stop - time.monotonic())))


async def _load(pid: int, port: int, seconds: float, concurrency: int) -> tuple[Tally, list[dict[str, Any]]]:
    bodies, tally = images(), Tally()
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    stop = started + seconds
    await asyncio.gather(
        _sampler(pid, stop, started, tally, samples),
        *(_client(k, port, bodies, stop, tally) for k in range(concurrency)),
    )
    return tally, samples


def captured_ids(home: Path) -> tuple[list[str], int]:
    """Inference ids of every captured record, and the number of capture files."""
    ids, files = [], 0
    for path in sorted((home / "buckets").rglob("*.jsonl")):
        files += 1
        for line in path.read_text().splitlines():
            ids.append(json.loads(line)["eventMetadata"]["inferenceId"])
    return ids, files


def run(seconds: float, concurrency: int, workdir: Path) -> dict[str, Any]:
    from tests.helpers import tiny_artifact

    home, model, port = workdir / "home", workdir / "model", free_port()
    tiny_artifact().write_dir(model)
    log = workdir / "server.log"
    server = start_server(home, model, port, log)
    try:
        wait_ready(port, server, timeout=90)
        wall = time.monotonic()
        tally, samples = asyncio.run(_load(server.pid, port, seconds, concurrency))
        wall = time.monotonic() - wall
        alive = server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(60)
    ids, files = captured_ids(home)
    rss = [s["rss_mib"] for s in samples]
    settled = rss[len(rss) // 4 :] or rss  # after warm-up: the first quarter fills pools and caches
    total = sum(tally.statuses.values())
    return {
        "seconds": round(wall, 1),
        "concurrency": concurrency,
        "requests": total,
        "rps": round(total / wall, 1),
        "statuses": tally.statuses,
        "errors": sum(n for status, n in tally.statuses.items() if status != "200"),
        "error_samples": tally.errors,
        "accepted": len(tally.accepted),
        "captured_records": len(ids),
        "captured_unique": len(set(ids)),
        "captured_equals_accepted": set(ids) == tally.accepted and len(ids) == len(tally.accepted),
        "capture_files": files,
        "server_alive_at_end": alive,
        "server_exit_code": exit_code,
        "rss_mib_first": rss[0],
        "rss_mib_after_warmup": settled[0],
        "rss_mib_last": rss[-1],
        "rss_mib_max_after_warmup": max(settled),
        "rss_samples": samples,
        "log_tail": log.read_text(errors="replace").splitlines()[-5:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # tests.helpers (the tiny model)
    with tempfile.TemporaryDirectory(prefix="scones-soak-") as tmp:
        report = run(args.seconds, args.concurrency, Path(tmp))
    summary = {k: v for k, v in report.items() if k != "rss_samples"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
