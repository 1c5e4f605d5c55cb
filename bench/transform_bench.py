"""Batch transform against the endpoint on the same model: images/s (issue 19).

The model is the default network `scones train` builds (bench/endpoint_bench.build_model, 32x32
input, ONNX). The images are the dev PNGs (32x32) and, separately, 640x480 JPEGs made from them.
Per round, side by side:
  - `scones transform`'s core (endpoint/transform.run) over all images in a local store,
    batch 8 and 32, into a fresh output prefix;
  - the endpoint (deployed as `scones deploy` does it, its own process, capture off) under the
    keep-alive load generator at concurrency 8 (bench/endpoint_bench.py), for `--seconds`.
Rounds alternate so the shared machine's load falls on both; the median and the spread are printed.
On a shared, loaded machine wall-clock images/s mostly measure the share of the cores a run gets,
so the CPU time per image is printed too (transform: this process; endpoint: the server process
from /proc, and server + load generator): that figure does not depend on the other tenants.

    .venv/bin/python bench/transform_bench.py [--images 1000] [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)


def _jpegs(pngs: list[bytes]) -> list[bytes]:
    out = []
    for data in pngs:
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((640, 480), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _endpoint_rps(port: int, images: list[bytes], kind: str, seconds: float, concurrency: int = 8) -> float:
    """Requests/s through the endpoint from a keep-alive client in this process (for JPEGs)."""
    import httpx

    async def run() -> float:
        done = 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            stop = time.perf_counter() + seconds

            async def worker(k: int) -> None:
                nonlocal done
                i = k
                while time.perf_counter() < stop:
                    reply = await client.post(
                        "/invocations", content=images[i % len(images)], headers={"Content-Type": kind}
                    )
                    reply.raise_for_status()
                    done, i = done + 1, i + concurrency

            started = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(concurrency)))
            return done / (time.perf_counter() - started)

    return asyncio.run(run())


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of process `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--jpegs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()

    from scones.config import load_settings
    from scones.endpoint import registry, transform
    from scones.endpoint.server import endpoint_config
    from scones.model.artifact import load
    from scones.storage import Store

    workdir = Path(tempfile.mkdtemp(prefix="scones-transform-bench-"))
    model, _ = eb.build_model(workdir)
    artifact = load(str(model))
    pngs = eb.load_images(args.images)
    jpegs = _jpegs(pngs[: args.jpegs])
    settings = load_settings(home=workdir / "home")
    store = Store(settings)
    for i, data in enumerate(pngs):
        store.put(settings.bucket, f"png/{i:05d}.png", data)
    for i, data in enumerate(jpegs):
        store.put(settings.bucket, f"jpeg/{i:05d}.jpg", data)
    store.put(settings.bucket, "models/bench/model.tar.gz", model.read_bytes())
    print(f"{len(pngs)} 32x32 PNGs, {len(jpegs)} 640x480 JPEGs; model {artifact.manifest.preprocessing.image_shape}")

    results: dict[str, list[float]] = {}
    cpu_ms: dict[str, list[float]] = {}
    config = endpoint_config(settings, name="bench", port=0, capture_percent=0)
    record = registry.deploy(settings, config, f"s3://{settings.bucket}/models/bench/model.tar.gz")
    port = urlsplit(record.url).port or 80
    try:
        for r in range(args.rounds):
            for kind in ("png", "jpeg"):
                for batch in (8, 32):
                    # the endpoint process idles meanwhile (no requests), as a deployed endpoint would
                    cpu = _own_cpu()
                    out = transform.run(
                        store, artifact, f"s3://{settings.bucket}/{kind}", f"s3://{settings.bucket}/out/{r}-{batch}-{kind}",
                        batch_size=batch,
                    )  # fmt: skip
                    assert not out.failed and out.written == (len(pngs) if kind == "png" else len(jpegs))
                    results.setdefault(f"transform {kind} batch {batch}", []).append(out.images_per_second)
                    cpu_ms.setdefault(f"transform {kind} batch {batch}", []).append(
                        (_own_cpu() - cpu) * 1000 / out.written
                    )
            server, client = _cpu_seconds(record.pid), _children_cpu()
            load = eb.load_once(port, 8, args.seconds, dict(os.environ))
            count = load["requests"]
            results.setdefault("endpoint png c=8", []).append(load["rps"])
            cpu_ms.setdefault("endpoint png c=8", []).append((_cpu_seconds(record.pid) - server) * 1000 / count)
            cpu_ms.setdefault("endpoint png c=8 +client", []).append(
                (_cpu_seconds(record.pid) - server + _children_cpu() - client) * 1000 / count
            )
            server, client = _cpu_seconds(record.pid), _own_cpu()
            started = time.perf_counter()
            rps = _endpoint_rps(port, jpegs, "image/jpeg", args.seconds)
            count = rps * (time.perf_counter() - started)
            results.setdefault("endpoint jpeg c=8", []).append(rps)
            cpu_ms.setdefault("endpoint jpeg c=8", []).append((_cpu_seconds(record.pid) - server) * 1000 / count)
            cpu_ms.setdefault("endpoint jpeg c=8 +client", []).append(
                (_cpu_seconds(record.pid) - server + _own_cpu() - client) * 1000 / count
            )
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items()), flush=True)
            print("  CPU ms/image: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in cpu_ms.items()), flush=True)
    finally:
        registry.delete(settings, "bench")
    print("\nmedian images/s (min-max over rounds):")
    for name, values in results.items():
        print(f"  {name:26} {statistics.median(values):7.0f}  ({min(values):.0f}-{max(values):.0f})")
    print("median CPU ms per image (min-max over rounds):")
    for name, values in cpu_ms.items():
        print(f"  {name:26} {statistics.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})")
    for kind in ("png", "jpeg"):
        best = max(statistics.median(results[f"transform {kind} batch {b}"]) for b in (8, 32))
        ratio = best / statistics.median(results[f"endpoint {kind} c=8"])
        cheapest = min(statistics.median(cpu_ms[f"transform {kind} batch {b}"]) for b in (8, 32))
        cpu_ratio = statistics.median(cpu_ms[f"endpoint {kind} c=8"]) / cheapest
        print(f"  {kind}: transform / endpoint images/s = {ratio:.2f}x wall, {cpu_ratio:.2f}x per CPU s (vs server)")


if __name__ == "__main__":
    main()
