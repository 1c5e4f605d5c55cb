"""filter: pass the event through when some class is confident enough, else fail loudly.

Passes when max(inferences) >= the threshold (SCONES_THRESHOLD, default the seed's 0.93);
otherwise raises ThresholdConfidenceNotMet with the inferences in its message, so the
execution fails with that error name (the seed raised a string: a TypeError).
"""

from __future__ import annotations

from typing import Any

from scones.functions import _event, _settings
from scones.functions.errors import ThresholdConfidenceNotMet


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = _settings.load()
    body = _event.body_of(event)
    inferences = _event.inferences(body)
    if max(inferences) < settings.threshold:
        raise ThresholdConfidenceNotMet(inferences, settings.threshold)
    return _event.answer(body)
