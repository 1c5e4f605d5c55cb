"""Every error scones raises on purpose, in one hierarchy.

    SconesError                 anything scones expects and can explain (CLI: one line, exit 1)
    ├── ConfigError             a setting or flag has a bad value
    ├── StorageError            the object store failed
    │   ├── InvalidKey          a key would escape its bucket
    │   └── ObjectNotFound      no object at that bucket/key
    ├── DataError               a dataset or archive is missing, malformed or unsafe
    │   ├── DownloadError       fetching a source failed (network, checksum)
    │   └── BadImage            bytes that are not a usable image (corrupt, too large, empty)
    ├── ArtifactError           a model artifact is missing, corrupt or foreign
    ├── TrainingError           training could not run (bad hyperparameter, empty data)
    ├── EndpointError           an endpoint could not be deployed, found or reached
    ├── WorkflowError           a state machine or execution problem
    └── MonitorError            a baseline or monitoring run could not be made

Messages name the problem and end with what to do next. Each stage may subclass these
(for example the HTTP errors of the endpoint), but new roots are not added: the CLI and the
servers render any `SconesError` the same way.
"""

from __future__ import annotations


class SconesError(Exception):
    """Base class: an expected failure with a message a user can act on."""


class ConfigError(SconesError):
    """A setting, flag or environment variable has a bad value."""


class StorageError(SconesError):
    """The object store (local folder or S3) could not do what was asked."""


class InvalidKey(StorageError):
    """A key or URI would escape its bucket, or is not a valid key."""


class ObjectNotFound(StorageError):
    """There is no object at the given bucket and key."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"No object at s3://{bucket}/{key}; check the bucket and key, or stage the data first")


class DataError(SconesError):
    """A dataset, archive or image folder is missing, malformed or unsafe."""


class DownloadError(DataError):
    """Downloading a source failed or gave the wrong bytes."""


class BadImage(DataError):
    """Bytes that cannot be used as an image: empty, not an image, truncated, or too large."""


class ArtifactError(SconesError):
    """A model artifact is missing, corrupt or not a scones model."""


class TrainingError(SconesError):
    """Training could not start or finish."""


class EndpointError(SconesError):
    """An endpoint could not be deployed, found or reached."""


class WorkflowError(SconesError):
    """A state machine definition or an execution could not be handled."""


class MonitorError(SconesError):
    """A baseline or monitoring run could not be computed."""
