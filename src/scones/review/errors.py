"""The review stage's error: an unknown endpoint, item or class, or a label file that cannot be read."""

from __future__ import annotations

from scones.errors import SconesError


class ReviewError(SconesError):
    """A review queue request could not be done; the message names the problem and what to do."""
