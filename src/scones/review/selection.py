"""Which captured answers enter the review queue, and why.

- every answer below the confidence threshold (the ones the workflow's filter rejects);
- a random share of the confident ones (`sample_confident`), since a confident mistake is the
  dangerous kind;
- a random share of the answers in a window the monitor reported drift for (`sample_drift`).

The draws are not random numbers but a hash of the eventId, so rerunning a refresh, or two
processes refreshing the same captures, choose exactly the same items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from scones.errors import ConfigError

LOW_CONFIDENCE = "low-confidence"
SAMPLED = "sampled"
DRIFT = "drift"


@dataclass(frozen=True)
class ReviewConfig:
    """What enters the queue besides the low-confidence answers (SCONES_SAMPLE_CONFIDENT, ...).

    Attributes:
        sample_confident: share of confident answers sampled for review, 0-1.
        sample_drift: share of the answers in a drifted monitoring window sampled for review, 0-1.
    """

    sample_confident: float = 0.02
    sample_drift: float = 0.1

    def __post_init__(self) -> None:
        for name in ("sample_confident", "sample_drift"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"Config '{name}' is {value}; give a share between 0 and 1 (0.02 is 2%)")


def draw(event_id: str, salt: str) -> float:
    """A number in [0, 1) fixed by the eventId (and what it is drawn for)."""
    digest = hashlib.sha256(f"{salt}:{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def reason(event_id: str, confidence: float, threshold: float, config: ReviewConfig) -> str | None:
    """Why an answer enters the queue (drift aside), or None when it does not."""
    if confidence < threshold:
        return LOW_CONFIDENCE
    if draw(event_id, SAMPLED) < config.sample_confident:
        return SAMPLED
    return None


def drifted(event_id: str, config: ReviewConfig) -> bool:
    return draw(event_id, DRIFT) < config.sample_drift
