"""Stage-2b benchmark for your own images: what a request costs by image size (issue 19).

Times, for a 32x32 PNG, a 640x480 JPEG and a 4032x3024 (12 MP phone) JPEG:
  - the endpoint's decode alone (`model.preprocess.decode`, draft mode for JPEGs) against a
    full decode (open, load every pixel, resize), per image;
  - requests/s through a real endpoint (App on uvicorn, the tiny test model with a 32x32 input
    so decoding dominates) at concurrency 8 for `--seconds` per image, from an httpx client.

    .venv/bin/python bench/photos_serve_bench.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import endpoint_bench as eb  # noqa: E402  (a sibling script, not a package)
from scones.model.preprocess import decode  # noqa: E402

SERVER = """
import sys, uvicorn
sys.path.insert(0, sys.argv[2])
from scones.config import load_settings
from scones.endpoint.app import App
from scones.endpoint.service import EndpointConfig
from tests.helpers import tiny_artifact
port = int(sys.argv[1])
app = App(tiny_artifact(), EndpointConfig(port=port), load_settings())
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def _photo(width: int, height: int, kind: str) -> bytes:
    rng = np.random.default_rng(width)
    base = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)).resize((width, height))
    noise = rng.integers(-10, 11, size=(height, width, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, kind, **({"quality": 90} if kind == "JPEG" else {}))
    return buffer.getvalue()


def _full_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))


def _per_image(fn: object, data: bytes, budget: float = 2.0) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget:
        fn(data)  # type: ignore[operator]
        count += 1
    return (time.perf_counter() - started) / count * 1000


async def _load(port: int, body: bytes, kind: str, seconds: float, concurrency: int = 8) -> float:
    done = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                reply = await client.post("/invocations", content=body, headers={"Content-Type": kind})
                reply.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    images = {
        "32x32 PNG": (_photo(32, 32, "PNG"), "image/png"),
        "640x480 JPEG": (_photo(640, 480, "JPEG"), "image/jpeg"),
        "4032x3024 JPEG": (_photo(4032, 3024, "JPEG"), "image/jpeg"),
    }
    for label, (body, _) in images.items():
        ours, full = _per_image(lambda d: decode(d, (32, 32)), body), _per_image(_full_decode, body)
        print(f"{label:16} {len(body) / 1e3:7.0f} KB  decode {ours:7.2f} ms  (full decode {full:7.2f} ms)", flush=True)
    from scones.config import environ_with

    port = eb.free_port()
    home = tempfile.mkdtemp(prefix="scones-photos-serve-")  # the server writes nothing into a real home
    env = environ_with(PYTHONPATH=str(REPO / "src"), SCONES_HOME=home)
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(REPO)], env=env)
    try:
        eb.wait_ready(port, process)
        for label, (body, kind) in images.items():
            rps = asyncio.run(_load(port, body, kind, args.seconds))
            print(f"{label:16} {rps:7.0f} req/s at concurrency 8", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
