"""What the functions read from their environment (the Lambda function's configuration).

Resolved with `scones.config.resolve` (flags > SCONES_* env > defaults), which is standard
library only, so the same module runs in a Lambda zip and here; no second env reader.
Unset `storage`/`endpoint_mode` mean "AWS inside Lambda, local elsewhere".
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from scones.config import DEFAULT_ENDPOINT_NAME, DEFAULT_THRESHOLD, env, resolve
from scones.errors import ConfigError

STATE_PAYLOAD_LIMIT = 262_144  # bytes per Step Functions state input/output


@dataclass(frozen=True)
class FunctionSettings:
    """Configuration of the three functions.

    Attributes:
        home: the scones home; local buckets and state.db live here (SCONES_HOME).
        storage: "local" (home/buckets/<bucket>/<key>) or "s3" (SCONES_STORAGE; default s3 in Lambda).
        s3_endpoint_url: an S3-compatible endpoint, e.g. moto or MinIO (SCONES_S3_ENDPOINT_URL).
        region: AWS region; None means the Lambda's AWS_REGION (SCONES_REGION).
        endpoint_name: the endpoint classify calls (SCONES_ENDPOINT_NAME).
        endpoint_mode: "local" finds a scones endpoint in home/state.db; "sagemaker" calls
            sagemaker-runtime InvokeEndpoint (SCONES_ENDPOINT_MODE; default sagemaker in Lambda).
        sagemaker_endpoint_url: endpoint URL for the sagemaker-runtime client (SCONES_SAGEMAKER_ENDPOINT_URL).
        endpoint_timeout: seconds to wait for the endpoint, connect and read (SCONES_ENDPOINT_TIMEOUT).
        threshold: the confidence the filter requires (SCONES_THRESHOLD).
        auth_token: bearer token for a scones endpoint that requires one (SCONES_AUTH_TOKEN).
    """

    home: Path = field(default_factory=lambda: Path.home() / ".scones")
    storage: Literal["local", "s3"] | None = None
    s3_endpoint_url: str | None = None
    region: str | None = None
    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    endpoint_mode: Literal["local", "sagemaker"] | None = None
    sagemaker_endpoint_url: str | None = None
    endpoint_timeout: float = 10.0
    threshold: float = DEFAULT_THRESHOLD
    auth_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"Config 'threshold' is {self.threshold}; give a probability between 0 and 1")
        if self.endpoint_timeout <= 0:
            raise ConfigError(
                f"Config 'endpoint_timeout' is {self.endpoint_timeout}; give a positive number of seconds"
            )

    @property
    def in_lambda(self) -> bool:
        return env("AWS_LAMBDA_FUNCTION_NAME") is not None

    @property
    def storage_kind(self) -> str:
        return self.storage or ("s3" if self.in_lambda else "local")

    @property
    def endpoint_kind(self) -> str:
        return self.endpoint_mode or ("sagemaker" if self.in_lambda else "local")

    @property
    def aws_region(self) -> str:
        return self.region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1"


# Set by `scones.functions.runtime` when scones runs a function in-process: the function's
# configuration then comes from the caller's settings, as a Lambda's comes from its environment.
overrides: ContextVar[dict[str, Any] | None] = ContextVar("scones_function_config", default=None)


_FIELDS = tuple(f.name for f in fields(FunctionSettings))


def load() -> FunctionSettings:
    """The functions' settings: in-process overrides, else the environment (read on every call, so a
    changed environment is seen; resolving is cached per distinct configuration)."""
    given = overrides.get() or {}
    environment = tuple(env(f"SCONES_{name.upper()}") for name in _FIELDS)
    return _resolved(tuple(sorted((k, str(v)) for k, v in given.items() if v is not None)), environment)


@functools.lru_cache(maxsize=64)
def _resolved(given: tuple[tuple[str, str], ...], environment: tuple[str | None, ...]) -> FunctionSettings:
    return resolve(FunctionSettings, dict(given))  # `environment` is only the cache key
