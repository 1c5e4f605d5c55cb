"""Keeping the console's indexes fresh from one background thread while it serves.

Pages also index a little on each view (bounded), so the thread is what keeps a big
backlog (a day of captured data, thousands of EXPRESS executions) from ever landing on a
single page view.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from scones.errors import SconesError

logger = logging.getLogger(__name__)


class Refresher:
    """Runs each task every `every_s` seconds in a daemon thread until stopped."""

    def __init__(self, tasks: list[Callable[[], object]], every_s: float = 2.0) -> None:
        self.tasks = tasks
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="console-refresher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            for task in self.tasks:
                try:
                    task()
                except (SconesError, OSError) as exc:  # the store may be away for a while; keep serving pages
                    logger.warning("console: background indexing failed: %s", exc)
            self._stop.wait(self.every_s)
