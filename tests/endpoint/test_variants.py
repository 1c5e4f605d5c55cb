"""Production variants: parsing NAME=MODEL[:WEIGHT], the set's rules, the revision, and the router's split."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

import pytest

from scones.endpoint import variants
from scones.endpoint.errors import ServiceUnavailable, ValidationError
from scones.endpoint.router import Router
from scones.endpoint.slot import ModelSlot
from scones.endpoint.variants import Variant
from scones.errors import ConfigError


def test_parse_name_model_and_weight() -> None:
    assert variants.parse("Blue=models/a.tar.gz:0.7") == Variant("Blue", "models/a.tar.gz", 0.7)
    assert variants.parse("Blue=models/a.tar.gz") == Variant("Blue", "models/a.tar.gz", 1.0)
    assert variants.parse("Blue=s3://b/m.tar.gz") == Variant("Blue", "s3://b/m.tar.gz", 1.0)  # the URI's colon
    assert variants.parse("Blue=s3://b/m.tar.gz:3") == Variant("Blue", "s3://b/m.tar.gz", 3.0)
    assert variants.parse("Green=train-job-1:0") == Variant("Green", "train-job-1", 0.0)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("models/a.tar.gz", "is not NAME=MODEL"),  # no name
        ("=models/a.tar.gz", "is not NAME=MODEL"),
        ("Blue=", "is not NAME=MODEL"),
        ("Blue=a.tar.gz:-1", "weight -1.0"),
        ("Bl ue=a.tar.gz", "Variant name"),
        ("Blue=a.tar.gz:nan", "weight nan"),
    ],
)
def test_parse_refuses(text: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        variants.parse(text)


def test_set_rules() -> None:
    variants.check([Variant("A", "m"), Variant("B", "m", 0.0)])
    with pytest.raises(ConfigError, match="unique"):
        variants.check([Variant("A", "m"), Variant("A", "n")])
    with pytest.raises(ConfigError, match="weight 0"):
        variants.check([Variant("A", "m", 0.0), Variant("B", "n", 0.0)])
    with pytest.raises(ConfigError, match="1 to 10 production"):
        variants.check([])
    with pytest.raises(ConfigError, match="1 to 10 production"):
        variants.check([Variant(f"V{i}", "m") for i in range(11)])


def test_weights_parse_and_refuse() -> None:
    assert variants.parse_weights(["Blue=9", "Green=1"]) == {"Blue": 9.0, "Green": 1.0}
    for bad in ("Blue", "Blue=x", "Blue=-2", "=3"):
        with pytest.raises(ConfigError, match="NAME=WEIGHT"):
            variants.parse_weights([bad])


def test_revision_is_the_sha_of_one_variant_and_changes_with_any_weight() -> None:
    assert variants.revision([Variant("A", "m", 1.0, "abc")]) == "abc"
    two = [Variant("A", "m", 1.0, "abc"), Variant("B", "n", 1.0, "def")]
    moved = [Variant("A", "m", 2.0, "abc"), Variant("B", "n", 1.0, "def")]
    assert variants.revision(two) != variants.revision(moved) != "abc"


def test_a_row_without_variants_is_one_variant_with_all_traffic() -> None:
    config = {"variant": "Blue", "model_sha256": "abc"}
    assert variants.from_config(config, "/m.tar.gz") == [Variant("Blue", "/m.tar.gz", 1.0, "abc")]
    listed = {"variants": [Variant("A", "/a", 0.5, "x").to_dict(), Variant("B", "/b", 0.5, "y").to_dict()]}
    assert [v.name for v in variants.from_config(listed, "/a")] == ["A", "B"]


def test_router_splits_by_weight_exactly_and_pins() -> None:
    router = Router([ModelSlot("Blue", 0.7), ModelSlot("Green", 0.3), ModelSlot("Off", 0.0)])
    counts = Counter(router.pick().variant for _ in range(1000))
    assert counts == {"Blue": 700, "Green": 300}
    # every prefix stays within one request of the split (smooth, not bursty)
    seen = Counter[str]()
    for i in range(1, 101):
        seen[router.pick().variant] += 1
        assert abs(seen["Blue"] - 0.7 * i) <= 1
    assert router.pick("Off").variant == "Off"  # a pinned request reaches a weight-0 variant
    with pytest.raises(ValidationError, match="not a production variant of this endpoint"):
        router.pick("Purple")


def test_router_with_no_weight_is_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="positive weight"):
        Router([ModelSlot("A", 0.0)]).pick()


def test_apply_changes_weights_and_retires_removed_variants() -> None:
    async def scenario() -> Router:
        router = Router([ModelSlot("A", 1.0), ModelSlot("B", 1.0)])
        await router.apply({"A": 1.0, "C": 3.0}, {})
        return router

    router = asyncio.run(scenario())
    assert list(router.slots) == ["A", "C"] and router.slots["C"].weight == 3.0
    assert Counter(router.pick().variant for _ in range(8)) == {"A": 2, "C": 6}


def test_shadow_parse_and_rules() -> None:
    assert variants.parse_shadow("Cand=m.tar.gz") == Variant("Cand", "m.tar.gz", 1.0, shadow=True)
    assert variants.parse_shadow("Cand=s3://b/m.tar.gz:25") == Variant("Cand", "s3://b/m.tar.gz", 0.25, shadow=True)
    for bad in ("Cand=m.tar.gz:0", "Cand=m.tar.gz:150"):
        with pytest.raises(ConfigError, match="0 < PERCENT <= 100"):
            variants.parse_shadow(bad)
    blue, shadow = Variant("Blue", "m"), Variant("Cand", "n", 0.5, shadow=True)
    variants.check([blue, shadow])
    with pytest.raises(ConfigError, match="at most one shadow"):
        variants.check([blue, shadow, Variant("Other", "n", 0.5, shadow=True)])
    with pytest.raises(ConfigError, match="at most one shadow"):
        variants.check([shadow, blue])
    with pytest.raises(ConfigError, match="1 to 10 production"):
        variants.check([shadow])
    assert variants.revision([blue, shadow]) != variants.revision([blue, replace(shadow, shadow=False)])


def test_router_never_routes_to_the_shadow() -> None:
    router = Router([ModelSlot("Blue", 1.0), ModelSlot("Cand", 1.0, shadow=True)])
    assert {router.pick().variant for _ in range(10)} == {"Blue"}
    assert router.shadow is router.slots["Cand"]
    with pytest.raises(ValidationError, match="not a production variant"):
        router.pick("Cand")
