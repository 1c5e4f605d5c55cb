"""Configuration: typed dataclasses, resolved as flags > `SCONES_*` environment > defaults.

`Settings` holds what every stage shares (the scones home, the object store, names and the
confidence threshold). Stage-specific settings are dataclasses in their stage (the download's,
the endpoint's, the monitor's, the workers', the functions') resolved by the same `resolve`
function, so every value is typed, has one default, and fails with its name when it is wrong.
The training hyperparameters are not settings: they come only from the job's request, never
from the environment, so `scones.model.hyperparameters.parse` reads them, through the same
`cast_value` in SageMaker's looser spelling (`loose=True`). This is the only module that
reads `os.environ`.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from scones.errors import ConfigError

T = TypeVar("T")

ENV_PREFIX = "SCONES_"
DEFAULT_ENDPOINT_NAME = "bike-motorbike-image-classifier"  # the seed's endpoint name
DEFAULT_THRESHOLD = 0.93  # the seed's filter threshold


def _default_home() -> Path:
    return Path.home() / ".scones"


@dataclass(frozen=True)
class Settings:
    """What every stage shares.

    Attributes:
        home: the scones home: buckets/, state.db and logs/ live here (SCONES_HOME).
        bucket: the default bucket for data, models and captured data (SCONES_BUCKET).
        storage: "local" keeps buckets as folders under home/buckets; "s3" sends s3:// URIs
            to S3 or an S3-compatible store (SCONES_STORAGE).
        s3_endpoint_url: the S3-compatible endpoint for storage "s3", e.g. a MinIO or moto
            server; None means AWS itself (SCONES_S3_ENDPOINT_URL).
        region: the AWS region for S3, SageMaker and Lambda clients (SCONES_REGION).
        endpoint_name: the endpoint the classify function calls (SCONES_ENDPOINT_NAME).
        threshold: the confidence the filter requires (SCONES_THRESHOLD).
        database_url: where durable executions live; None means SQLite in home
            (SCONES_DATABASE_URL, e.g. postgresql://user@127.0.0.1:5432/test).
        auth_token: bearer token required by endpoints and the console when set
            (SCONES_AUTH_TOKEN).
    """

    home: Path = field(default_factory=_default_home)
    bucket: str = "scones"
    storage: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None
    region: str = "us-east-1"
    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    threshold: float = DEFAULT_THRESHOLD
    database_url: str | None = None
    auth_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"Config 'threshold' is {self.threshold}; give a probability between 0 and 1")

    @property
    def buckets_dir(self) -> Path:
        return self.home / "buckets"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def load_settings(**flags: Any) -> Settings:
    """Settings from flags (None means 'not given'), then SCONES_* env, then defaults."""
    return resolve(Settings, flags)


def resolve(cls: type[T], flags: Mapping[str, Any] | None = None, env_prefix: str = ENV_PREFIX) -> T:
    """Build dataclass `cls`: each field from `flags`, else `{env_prefix}{FIELD}`, else its default.

    Values from the environment are strings and are cast to the field's type; a value that
    does not fit fails with the field's name and the expected type.
    """
    flags = dict(flags or {})
    unknown = set(flags) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise ConfigError(f"Unknown config key(s) for {cls.__name__}: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name, source = f.name, None
        if flags.get(name) is not None:
            raw, source = flags[name], "flag"
        elif (env := os.environ.get(env_prefix + name.upper())) not in (None, ""):
            raw, source = env, f"environment variable {env_prefix}{name.upper()}"
        if source is None:
            continue
        values[name] = cast_value(name, raw, hints[name], source)
    try:
        return cls(**values)
    except TypeError as exc:  # a required field with no default and no value
        raise ConfigError(f"Config for {cls.__name__} is incomplete: {exc}") from exc


def env(name: str, default: str | None = None) -> str | None:
    """Read one environment variable (for the few settings that are not dataclass fields)."""
    value = os.environ.get(name)
    return default if value in (None, "") else value


def environ_with(**overrides: str) -> dict[str, str]:
    """This process's environment plus `overrides` (empty values remove the variable), for children."""
    environ = dict(os.environ)
    for name, value in overrides.items():
        if value:
            environ[name] = value
        else:
            environ.pop(name, None)
    return environ


def cast_value(name: str, raw: Any, hint: Any, source: str = "value", *, loose: bool = False) -> Any:
    """Cast `raw` to the type `hint`, failing with the key's name and the expected type.

    `loose` reads values as SageMaker passes hyperparameters (all strings, written by hand):
    text is trimmed, a blank is None where None is allowed, choices ignore case, an integer may
    be written "30.0", and booleans are True/False, 1/0 or yes/no.
    """
    text = str(raw).strip() if loose else raw
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        nones = ("", "none", "null") if loose else ("none", "null")
        if raw is None or (isinstance(raw, str) and text.lower() in nones):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return cast_value(name, raw, inner[0], source, loose=loose) if len(inner) == 1 else raw
    if origin is Literal:
        choice = text.lower() if loose else raw
        if choice in args:
            return choice
        raise ConfigError(f"Config '{name}' ({source}) has value {raw!r}; expected one of {', '.join(map(str, args))}")
    try:
        if hint is bool:
            return _to_bool(raw, on_off=not loose)  # on/off is not a SageMaker spelling
        if hint is int:
            number = float(text) if loose else raw  # loose: "30.0" is 30
            if isinstance(raw, bool) or (isinstance(number, float) and not number.is_integer()):
                raise ValueError(raw)
            return int(number)
        if hint is float:
            return float(text)
        if hint is Path:
            return Path(raw).expanduser()
        if hint is str:
            return str(text)
    except (TypeError, ValueError):
        expected = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"Config '{name}' ({source}) has value {raw!r}; expected {expected}") from None
    return raw


def _to_bool(raw: Any, on_off: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes") or (on_off and text == "on"):
        return True
    if text in ("0", "false", "no") or (on_off and text == "off"):
        return False
    raise ValueError(raw)


def ensure_home(settings: Settings) -> Path:
    """Create the scones home (readable by the user only) and its folders; return it.

    Also sets this process's umask to 077: every file and folder scones creates afterwards
    (objects in local buckets, capture files, logs, databases, and those of the processes it
    starts) is the user's only, whatever the home's own mode.
    """
    os.umask(0o077)
    try:
        for path in (settings.home, settings.buckets_dir, settings.logs_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a read-only parent
        raise ConfigError(
            f"Cannot create the scones home {settings.home}: {exc}; give --home a folder you can write"
        ) from exc
    try:
        settings.home.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"Cannot secure the scones home {settings.home}: {exc}; check its owner") from exc
    return settings.home
