"""A real endpoint server process for reliability tests: the tiny model, capture at 100%, a token.

    python tests/reliability/server.py PORT TOKEN   (SCONES_HOME from the environment)

Served exactly as `scones serve` serves it (App + build_server), in its own process so the
tests can measure its memory, kill it, and see it crash if it ever does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    sys.path.insert(0, str(REPO))
    import uvicorn

    from scones.config import load_settings
    from scones.endpoint.app import App
    from scones.endpoint.server import build_server
    from scones.endpoint.service import EndpointConfig
    from tests.helpers import tiny_artifact

    port, token = int(sys.argv[1]), sys.argv[2]
    config = EndpointConfig(port=port, capture_percent=100, auth_token=token or None)
    app = App(tiny_artifact(), config, load_settings())
    uvicorn.Server(build_server(app, config)).run()


class ServerProcess:
    """`python tests/reliability/server.py` started on a free port, with its log in a file."""

    def __init__(self, home: Path, token: str, log: Path, port: int | None = None) -> None:
        from tests.conftest import free_port

        self.home, self.token, self.log = home, token, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SCONES_HOME": str(home), "PYTHONPATH": str(REPO / "src")}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(self.port), token], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        from tests.helpers import wait_healthy

        wait_healthy(self.process, f"{self.url}/ping", timeout, log=self.log)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, as a crashed container does."""
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM (capture flushed), then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


if __name__ == "__main__":
    main()
