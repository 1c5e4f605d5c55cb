"""The loop policy: one small TOML file saying when an iteration runs, what a candidate must beat, how it rolls out.

[triggers]                 # an iteration runs when any of these holds (none set: every time)
new_labels = 50            # at least this many labels since the last iteration
monitor_violation = true   # the endpoint's newest monitoring execution since then reported violations
every = "1d"               # this long since the last iteration (a schedule)

[gates]                    # scones retrain's --margin and --tolerance
margin = 0.02
tolerance = 0.01

[training]
epochs = 24
test_share = 0.2           # of the new reviewed images, held out as reviewed-test

[strategy]                 # the guarded rollout (scones update-endpoint --strategy ...)
kind = "canary"
canary_percent = 10
interval_seconds = 30
bake_seconds = 30
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scones.endpoint.deployments import Strategy
from scones.errors import ConfigError, MonitorError
from scones.loop.retrain import Gates
from scones.monitor.runs import parse_interval

_SECTIONS = {
    "triggers": {"new_labels", "monitor_violation", "every"},
    "gates": {"margin", "tolerance"},
    "training": {"epochs", "test_share"},
    "strategy": {"kind", "canary_percent", "linear_step", "interval_seconds", "bake_seconds"},
}


@dataclass(frozen=True)
class Policy:
    new_labels: int | None = None
    monitor_violation: bool = False
    every_seconds: float | None = None
    gates: Gates = field(default_factory=Gates)
    epochs: int = 24
    test_share: float = 0.2
    strategy: Strategy = field(default_factory=lambda: Strategy("canary", 10.0))
    source: str = "defaults"

    @property
    def has_triggers(self) -> bool:
        return self.new_labels is not None or self.monitor_violation or self.every_seconds is not None


def load_policy(path: str | Path | None) -> Policy:
    """The policy in TOML file `path` (None: the defaults: no trigger, so every iteration runs)."""
    if path is None:
        return Policy()
    where = str(path)
    try:
        document = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"No loop policy at {where}; give a TOML file (see docs/review-loop.md)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the loop policy {where} ({exc}); check the file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The loop policy {where} is not valid TOML ({exc}); fix the file") from exc
    for section, values in document.items():
        if section not in _SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{where}: unknown section [{section}]; use {', '.join(f'[{s}]' for s in _SECTIONS)}")
        unknown = sorted(set(values) - _SECTIONS[section])
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {unknown[0]!r} in [{section}]; known: {', '.join(sorted(_SECTIONS[section]))}"
            )
    triggers, gates = document.get("triggers", {}), document.get("gates", {})
    training, strategy = document.get("training", {}), document.get("strategy", {})
    try:
        new_labels = _typed(triggers, "new_labels", int, None, where)
        if new_labels is not None and new_labels < 1:
            raise ConfigError(f"{where}: [triggers] new_labels is {new_labels}; give 1 or more")
        every = _typed(triggers, "every", str, None, where)
        return Policy(
            new_labels=new_labels,
            monitor_violation=_typed(triggers, "monitor_violation", bool, False, where),
            every_seconds=parse_interval(every) if every is not None else None,
            gates=Gates(_number(gates, "margin", 0.02, where), _number(gates, "tolerance", 0.01, where)),
            epochs=_typed(training, "epochs", int, 24, where),
            test_share=_number(training, "test_share", 0.2, where),
            strategy=Strategy(
                _typed(strategy, "kind", str, "canary", where),
                _number(strategy, "canary_percent", 10.0, where),
                _number(strategy, "linear_step", 25.0, where),
                _number(strategy, "interval_seconds", 30.0, where),
                _number(strategy, "bake_seconds", 30.0, where),
            ),
            source=where,
        )
    except MonitorError as exc:
        raise ConfigError(f"{where}: [triggers] every: {exc}") from None
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None


def _typed(section: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = section.get(key, default)
    if value is not default and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: {key} is {value!r}; give a {kind.__name__}")
    return value


def _number(section: dict[str, Any], key: str, default: float, where: str) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: {key} is {value!r}; give a number")
    return float(value)
