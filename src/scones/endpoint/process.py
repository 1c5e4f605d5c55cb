"""Endpoint server processes: start `scones serve` detached, wait for /ping, probe, stop.

The registry (`registry.py`) decides what runs; this module only handles the processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from scones import state
from scones.config import Settings, environ_with
from scones.endpoint.service import EndpointConfig
from scones.endpoint.variants import Variant

STOP_SECONDS = 35.0  # the server's graceful shutdown plus the capture flush


def log_path(settings: Settings, name: str) -> Path:
    return settings.logs_dir / f"endpoint-{name}.log"


def spawn(settings: Settings, config: EndpointConfig, variants: list[Variant], log: Path) -> subprocess.Popen[bytes]:
    """`scones serve` for `config` and its `variants` (resolved) in its own session, its output appended to `log`."""
    command = [sys.executable, "-c", "from scones.cli import main; main()", "--home", str(settings.home)]
    command += ["--bucket", settings.bucket, "--storage", settings.storage]
    if settings.s3_endpoint_url:
        command += ["--s3-endpoint-url", settings.s3_endpoint_url]
    command += ["serve", "--name", config.name, "--port", str(config.port)]
    command += ["--workers", str(config.workers), "--capture-percent", str(config.capture_percent)]
    if config.max_workers:
        command += ["--max-workers", str(config.max_workers), "--target-invocations-per-worker",
                    repr(config.target_invocations_per_worker), "--scale-out-seconds", repr(config.scale_out_seconds),
                    "--scale-in-seconds", repr(config.scale_in_seconds)]  # fmt: skip
    for variant in variants:
        if variant.shadow:
            command += ["--shadow", f"{variant.name}={variant.model}:{100 * variant.weight:g}"]
        else:
            command += ["--variant", f"{variant.name}={variant.model}:{variant.weight!r}"]
    if config.capture_destination:
        command += ["--capture-destination", config.capture_destination]
    # The token travels in the environment, never on the command line (which `ps` shows).
    env = environ_with(SCONES_AUTH_TOKEN=config.auth_token or "")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        handle.write(f"\n=== {state.now()} deploy {config.name} on port {config.port}\n".encode())
        handle.flush()
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, close_fds=True,
        )  # fmt: skip


def wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> str | None:
    """None once /ping says 200; else why not (the process exited, or the time ran out)."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                return f"the server exited with code {code} before it was healthy"
            try:
                if client.get(f"{url}/ping").status_code == 200:
                    return None
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.1)
    return f"/ping was not healthy within {timeout:.0f} s"


def alive(pid: int | None, server: bool = True) -> bool:
    """Whether `pid` runs (not a zombie); with `server`, also that it is `scones serve` (not a recycled pid).

    Worker processes are uvicorn's spawned children, whose command line is multiprocessing's,
    so their acknowledgements are checked with `server=False`.
    """
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own finished child
    except ChildProcessError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:  # no /proc (not Linux): fall back to a signal probe
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return status != "Z" and (not server or (b"scones" in cmdline and b"serve" in cmdline))


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot, /proc/PID/stat field 22): with the pid, names one process
    for good, since pids are recycled. None where there is no /proc or no such process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid: int | None, ticks: int | None) -> bool:
    """Whether the process that was `pid`, started at `ticks`, still runs."""
    if not pid or not alive(pid, server=False):
        return False
    return ticks is None or start_ticks(pid) in (None, ticks)


def stop(pid: int | None, timeout: float = STOP_SECONDS) -> None:
    """SIGTERM, wait for a clean exit (capture flushed), SIGKILL only as a last resort."""
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
