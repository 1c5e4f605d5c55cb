"""The named errors the three functions raise; their class names are the Lambda `errorType`.

Step Functions matches `errorType` against `ErrorEquals`, so these names are part of the
pipeline's contract (pipeline.asl.json retries EndpointUnavailable and nothing else of ours):

    SconesError
    ├── StorageError > ObjectNotFound > ImageNotFound      no object at s3_bucket/s3_key
    ├── StorageError > InvalidKey                          (scones.keys) a key escaping its bucket
    ├── DataError > InvalidEvent                           the event lacks a field or has a bad one
    ├── DataError > PayloadTooLarge                        the result would not fit a state (256 KB)
    ├── EndpointError > EndpointNotFound                   no such endpoint (not retryable)
    ├── EndpointError > EndpointUnavailable                down, busy or slow: retryable
    ├── EndpointError > ModelError                         the model refused the input (not retryable)
    └── WorkflowError > ThresholdConfidenceNotMet          the filter's verdict: fail loudly

Standard library only (plus scones.errors), so it ships in the Lambda zips.
"""

from __future__ import annotations

from collections.abc import Sequence

from scones.errors import DataError, EndpointError, ObjectNotFound, WorkflowError


class ImageNotFound(ObjectNotFound):
    """The event names an object that does not exist."""


class InvalidEvent(DataError):
    """The event is not the pipeline's shape (a field is missing or has the wrong type)."""


class PayloadTooLarge(DataError):
    """The image, once base64-encoded into the event, would exceed the state payload limit."""


class EndpointNotFound(EndpointError):
    """No endpoint with the configured name exists."""


class EndpointUnavailable(EndpointError):
    """The endpoint exists but cannot answer now (down, starting, overloaded or timing out)."""


class ModelError(EndpointError):
    """The endpoint answered, but the model could not classify this input."""


class ThresholdConfidenceNotMet(WorkflowError):
    """No class reached the required confidence: the execution must fail loudly."""

    def __init__(self, inferences: Sequence[float], threshold: float) -> None:
        self.inferences = list(inferences)
        self.threshold = threshold
        super().__init__(
            f"THRESHOLD_CONFIDENCE_NOT_MET: inferences {self.inferences} have no value >= {threshold}; "
            "the image needs a human look (or lower SCONES_THRESHOLD)"
        )
