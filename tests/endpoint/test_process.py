"""Server process probes: a recycled pid is never taken for a server, and never signalled."""

from __future__ import annotations

import subprocess
import sys

from scones.endpoint import process


def test_alive_tells_a_scones_server_from_any_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process.alive(child.pid, server=False)  # running: good enough for a worker's acknowledgement
        assert not process.alive(child.pid)  # but not a `scones serve`, so not an endpoint's server
        process.stop(child.pid, timeout=1)  # a pid that is not a server is never signalled
        assert child.poll() is None
    finally:
        child.kill()
        child.wait(10)
    assert not process.alive(child.pid, server=False) and not process.alive(None)
