"""Production variants: what an endpoint serves, as SageMaker's ProductionVariants say it.

A variant is a name, a model and a weight; traffic is split in proportion to the weights.
A shadow variant (`--shadow NAME=MODEL[:PERCENT]`, at most one) takes no traffic of its own:
it gets a copy of that share of requests, off the request path (`shadow.py`); its `weight` is
that share, 0-1.
`scones deploy --variant NAME=MODEL[:WEIGHT]` parses into `Variant`s, the registry stores them
in the endpoint's row (`config["variants"]`: name, model location, model sha256, weight), and
every server process follows that list (`watcher.py`) and routes by it (`router.py`).

A row written before variants existed has none; `from_config` reads it as the one variant it
served (the `variant` name, all the traffic).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scones.endpoint.capture import DEFAULT_VARIANT
from scones.endpoint.service import NAME_PATTERN
from scones.errors import ConfigError

MAX_VARIANTS = 10  # SageMaker's limit of production variants per endpoint config


@dataclass(frozen=True)
class Variant:
    """One production variant: `model` is a location (or, before `deploy` resolves it, what the user typed)."""

    name: str
    model: str
    weight: float = 1.0
    model_sha256: str = ""
    shadow: bool = False
    # A deployment's candidate: this share (0-1) of its answered requests is also sent, off the request
    # path, to variant `compare_with` (the old model), and the two predictions are compared.
    compare_with: str = ""
    compare_share: float = 0.0

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ConfigError(f"Variant name {self.name!r} is not valid: use up to 63 letters, digits and hyphens")
        if not self.model:
            raise ConfigError(f"Variant {self.name} has no model; write NAME=MODEL[:WEIGHT]")
        if not self.weight >= 0:  # also refuses NaN
            raise ConfigError(f"Variant {self.name} has weight {self.weight}; give a number of 0 or more")
        if self.shadow and not 0 < self.weight <= 1:
            raise ConfigError(f"Shadow {self.name} mirrors {100 * self.weight:g}% of requests; give 0 < PERCENT <= 100")
        if not 0 <= self.compare_share <= 1:
            raise ConfigError(f"Variant {self.name} compares {self.compare_share} of its requests; give 0 to 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(text: str) -> Variant:
    """`NAME=MODEL[:WEIGHT]` -> Variant (weight 1 when not given)."""
    name, model, number = _split(text, "WEIGHT", "--variant Blue=models/a.tar.gz:0.9")
    return Variant(name, model, 1.0 if number is None else number)


def parse_shadow(text: str) -> Variant:
    """`NAME=MODEL[:PERCENT]` -> a shadow variant mirroring PERCENT of requests (default 100)."""
    name, model, number = _split(text, "PERCENT", "--shadow Candidate=models/b.tar.gz:50")
    return Variant(name, model, (100.0 if number is None else number) / 100, shadow=True)


def _split(text: str, number_name: str, example: str) -> tuple[str, str, float | None]:
    """NAME, MODEL and the number after the last ':' when it is one (so s3:// URIs and paths keep their colons)."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise ConfigError(f"{text!r} is not NAME=MODEL[:{number_name}]; e.g. {example}")
    head, colon, tail = rest.rpartition(":")
    if colon and head:
        try:
            return name.strip(), head.strip(), float(tail)
        except ValueError:
            pass  # the colon belongs to the model (s3://...)
    return name.strip(), rest.strip(), None


def parse_weights(items: Iterable[str]) -> dict[str, float]:
    """`NAME=WEIGHT` items (update-endpoint-weights) -> {name: weight}."""
    weights: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep and name else float("nan")
        except ValueError:
            weight = float("nan")
        if not weight >= 0:
            raise ConfigError(f"Weight {item!r} is not NAME=WEIGHT with a weight of 0 or more; e.g. Blue=0.9")
        weights[name.strip()] = weight
    return weights


def check(variants: Sequence[Variant]) -> None:
    """The rules for an endpoint's set: 1-10 production variants first, unique names, some traffic to
    someone, at most one shadow."""
    production = [v for v in variants if not v.shadow]
    if not 1 <= len(production) <= MAX_VARIANTS:
        raise ConfigError(f"An endpoint serves 1 to {MAX_VARIANTS} production variants, not {len(production)}")
    if variants[0].shadow or len(production) < len(variants) - 1:
        raise ConfigError("An endpoint has at most one shadow variant, listed after its production variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"Variant names must be unique; got {', '.join(names)}")
    if not any(v.weight > 0 for v in production):
        raise ConfigError("Every variant has weight 0; give at least one a positive weight")


def from_config(config: Mapping[str, Any], model: str) -> list[Variant]:
    """The variants an endpoint row asks for (a row without a list is one variant: all traffic)."""
    listed = config.get("variants")
    if listed:
        return [Variant(**item) for item in listed]
    name = config.get("variant") or DEFAULT_VARIANT
    return [Variant(name, model, 1.0, config.get("model_sha256") or "")]


def revision(variants: Sequence[Variant]) -> str:
    """What a worker acknowledges: the model sha256 of a single variant, else a digest of names, shas and weights."""
    if len(variants) == 1:
        return variants[0].model_sha256
    text = json.dumps([[v.name, v.model_sha256, v.weight, v.shadow, v.compare_with, v.compare_share] for v in variants])
    return "variants-" + hashlib.sha256(text.encode()).hexdigest()[:24]
