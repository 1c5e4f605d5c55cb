"""Progress reporting: the library reports, the CLI draws (a Rich bar), tests ignore it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What long-running library functions report to; the CLI passes a Rich-backed one."""

    def start(self, description: str, total: int | None = None) -> None:
        """Begin a phase of `total` units (None when unknown); ends the previous phase."""

    def advance(self, n: int = 1) -> None:
        """Mark `n` more units done in the current phase."""

    def log(self, message: str) -> None:
        """A line worth showing above the bar (e.g. an epoch summary)."""


class NullProgress:
    """Reports nowhere: the default for library calls and tests."""

    def start(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        pass
