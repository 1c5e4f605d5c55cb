"""Load test (slow): 64 concurrent clients for 60 s against a real server with capture at 100%."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from scones.storage import Store
from tests.conftest import free_port
from tests.helpers import SCONES, png_bytes, served

CLIENTS = 64
SECONDS = 60.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def hammer(url: str, pid: int) -> tuple[int, int, list[int]]:
    """(ok, errors, RSS samples) after CLIENTS clients send requests for SECONDS."""
    bodies = [png_bytes((i * 3 % 256, 40, 255 - i * 3 % 256)) for i in range(64)]
    ok = errors = 0
    rss: list[int] = []
    stop = time.monotonic() + SECONDS

    async def client(k: int) -> None:
        nonlocal ok, errors
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            i = k
            while time.monotonic() < stop:
                reply = await http.post("/invocations", content=bodies[i % 64], headers={"content-type": "image/png"})
                i += 1
                if reply.status_code == 200 and len(reply.json()) == 2:
                    ok += 1
                else:
                    errors += 1

    async def sample() -> None:
        while time.monotonic() < stop:
            rss.append(rss_kib(pid))
            await asyncio.sleep(2)

    await asyncio.gather(sample(), *[client(k) for k in range(CLIENTS)])
    return ok, errors, rss


@pytest.mark.slow
def test_64_clients_for_60_seconds(model_file: Path, store: Store) -> None:
    port = free_port()
    command = [*SCONES, "serve", "--model", str(model_file), "--port", str(port), "--capture-percent", "100"]
    with served(command, f"http://127.0.0.1:{port}") as server:
        ok, errors, rss = asyncio.run(hammer(server.url, server.process.pid))
    returncode, stderr = server.process.returncode, server.stderr
    # uvicorn re-raises SIGTERM once it has shut down cleanly, so the exit status is -SIGTERM.
    assert returncode in (0, -signal.SIGTERM) and b"Application shutdown complete" in stderr, stderr
    assert errors == 0 and ok > CLIENTS * 10
    captured = sum(len(store.get("scones", o.key).splitlines()) for o in store.list("scones", "data_capture"))
    assert captured == ok  # every accepted request was captured and flushed
    settled = rss[len(rss) // 4 :]  # after warm-up: allocator pools and caches are full
    assert max(settled) - settled[0] < 40 * 1024, f"RSS grew from {settled[0]} to {max(settled)} KiB"
