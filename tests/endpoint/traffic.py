"""Concurrent clients for endpoint tests: every answer recorded with the variant that gave it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from tests.helpers import png_bytes


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic() when the request left
    variant: str  # X-Amzn-Invoked-Production-Variant
    label: int  # the winning class: 0 bicycle, 1 motorcycle
    seconds: float


class Traffic:
    """`clients` threads posting a red image until `total` answers (or until stopped), recording each outcome."""

    def __init__(self, url: str, clients: int = 8, total: int | None = None, headers: dict[str, str] | None = None):
        self.url, self.total, self.stop = url, total, threading.Event()
        self.headers = {"content-type": "image/png", **(headers or {})}
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._sent = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _take(self) -> bool:
        with self._lock:
            if self.stop.is_set() or (self.total is not None and self._sent >= self.total):
                return False
            self._sent += 1
            return True

    def _run(self) -> None:
        body = png_bytes((200, 30, 30))
        with httpx.Client(timeout=30) as client:
            while self._take():
                sent = time.monotonic()
                try:
                    reply = client.post(f"{self.url}/invocations", content=body, headers=self.headers)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if reply.status_code != 200:
                    self.failures.append(f"{reply.status_code} {reply.text}")
                    continue
                p = reply.json()
                variant = reply.headers.get("x-amzn-invoked-production-variant", "")
                self.answers.append(Answer(sent, variant, int(p[1] > p[0]), time.monotonic() - sent))

    def since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.sent > moment]

    def wait_for(self, count: int, after: float = 0.0, timeout: float = 30.0) -> None:
        """Until `count` answers sent after `after` have come back (a loaded machine may be slow)."""
        deadline = time.monotonic() + timeout
        while len(self.since(after)) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()
