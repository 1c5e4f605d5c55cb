from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from scones.config import Settings, cast_value, ensure_home, load_settings, resolve
from scones.errors import ConfigError


def test_flags_beat_environment_beat_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().bucket == "scones"
    monkeypatch.setenv("SCONES_BUCKET", "from-env")
    assert load_settings().bucket == "from-env"
    assert load_settings(bucket="from-flag").bucket == "from-flag"


def test_environment_values_are_cast_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_THRESHOLD", "0.5")
    assert load_settings().threshold == 0.5
    monkeypatch.setenv("SCONES_THRESHOLD", "high")
    with pytest.raises(ConfigError, match="'threshold'.*SCONES_THRESHOLD.*float"):
        load_settings()
    monkeypatch.setenv("SCONES_THRESHOLD", "1.5")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_settings()


def test_literal_fields_name_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_STORAGE", "ftp")
    with pytest.raises(ConfigError, match="expected one of local, s3"):
        load_settings()


def test_home_comes_from_environment(clean_environ: Path) -> None:
    assert load_settings().home == clean_environ


@dataclass(frozen=True)
class _Example:
    count: int = 1
    enabled: bool = False
    name: str | None = None


def test_resolve_any_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_COUNT", "3")
    monkeypatch.setenv("X_ENABLED", "yes")
    assert resolve(_Example, {}, env_prefix="X_") == _Example(count=3, enabled=True)
    with pytest.raises(ConfigError, match="Unknown config key"):
        resolve(_Example, {"colour": 1})
    with pytest.raises(ConfigError, match="'count'.*expected int"):
        resolve(_Example, {"count": "many"})


def test_home_is_private(settings: Settings) -> None:
    ensure_home(settings)
    assert settings.home.stat().st_mode & 0o777 == 0o700


def test_loose_casting_reads_sagemaker_spellings_that_strict_refuses() -> None:
    choice = Literal["sgd", "nag"]
    assert cast_value("optimizer", " NAG ", choice, loose=True) == "nag"
    assert cast_value("epochs", "30.0", int, loose=True) == 30
    assert cast_value("width", " ", int | None, loose=True) is None
    assert cast_value("image_shape", " 3,32,32 ", str, loose=True) == "3,32,32"
    with pytest.raises(ConfigError, match="'optimizer'.*expected one of sgd, nag"):
        cast_value("optimizer", "NAG", choice)
    with pytest.raises(ConfigError, match="'epochs'.*expected int"):
        cast_value("epochs", "30.0", int)
    # on/off is a config spelling, not a SageMaker one
    assert cast_value("enabled", "on", bool) is True
    with pytest.raises(ConfigError, match="'enabled'.*expected bool"):
        cast_value("enabled", "on", bool, loose=True)
