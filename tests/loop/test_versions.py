"""`add_reviewed`: a new dataset version = parent + reviewed images, provenance, reviewed-test, no duplicates."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from scones.config import Settings
from scones.data.dataset import read_manifest, read_split
from scones.errors import DataError
from scones.loop.versions import add_reviewed, newest_version
from scones.storage import Store
from tests.loop.conftest import reviewed_items


def test_a_version_holds_the_parent_plus_the_reviewed_images_with_their_provenance(
    settings: Settings, staged: Store
) -> None:
    items = reviewed_items(20)
    version = add_reviewed(settings, staged, "ep", items)
    assert version.uri == "s3://scones/data-v2" and version.parent == "s3://scones/data"
    assert version.added == {"train": 16, "reviewed-test": 4} and version.duplicates == 0
    assert version.counts == {"train": 64 + 16, "test": 16, "reviewed-test": 4}
    manifest = read_manifest(staged, version.uri)
    assert manifest["parent"] == "s3://scones/data" and manifest["classes"] == ["bicycle", "motorcycle"]
    assert manifest["class_counts"]["reviewed-test"] == {"bicycle": 2, "motorcycle": 2}  # stratified
    by_event = {p["event_id"]: p for p in manifest["provenance"]}
    assert set(by_event) == {i.event_id for i in items}
    first = by_event[items[0].event_id]
    assert first["reviewer"] == "ana" and first["labelled_at"] == items[0].labelled_at
    assert first["label"] == items[0].label and first["inference_id"] == items[0].inference_id
    # The test split is the parent's, byte for byte; every split reads back as training reads it.
    assert staged.get("scones", "data-v2/test.lst") == staged.get("scones", "data/test.lst")
    old, new = (read_split(staged, f"{p}/test", f"{p}/test.lst") for p in ("s3://scones/data", version.uri))
    assert old.checksum == new.checksum
    train = read_split(staged, f"{version.uri}/train", f"{version.uri}/train.lst")
    assert len(train) == 80 and sorted(set(train.labels.tolist())) == [0, 1]
    held = read_split(staged, f"{version.uri}/reviewed-test", f"{version.uri}/reviewed-test.lst")
    assert len(held) == 4
    assert newest_version(settings, "ep") == version.uri


def test_the_same_reviewed_images_in_another_order_make_the_same_version(settings: Settings, staged: Store) -> None:
    """The queue's order is the order requests arrived in; the split must not depend on it."""
    items = reviewed_items(20)
    first = add_reviewed(settings, staged, "ep", items, into="s3://scones/in-order")
    again = add_reviewed(settings, staged, "ep", items[::-1], parent="s3://scones/data", into="s3://scones/reversed")
    assert first.added == again.added == {"train": 16, "reviewed-test": 4}
    for split in ("train.lst", "reviewed-test.lst"):
        assert staged.get("scones", f"in-order/{split}") == staged.get("scones", f"reversed/{split}")


def test_duplicate_bytes_are_added_once(settings: Settings, staged: Store) -> None:
    items = reviewed_items(10)
    in_parent = replace(items[1], image=staged.get("scones", "data/train/img_0000.png"))
    again = replace(items[0], id="other", event_id="ev-other")
    version = add_reviewed(settings, staged, "ep", [items[0], in_parent, again, *items[2:]])
    assert version.duplicates == 2 and sum(version.added.values()) == 9
    events = {p["event_id"] for p in read_manifest(staged, version.uri)["provenance"]}
    assert "ev-other" not in events and items[1].event_id not in events


def test_a_second_version_builds_on_the_first_and_keeps_its_provenance(settings: Settings, staged: Store) -> None:
    first = add_reviewed(settings, staged, "ep", reviewed_items(10))
    second = add_reviewed(settings, staged, "ep", reviewed_items(10) + reviewed_items(10, seed=6, reviewer="bo"))
    assert second.uri == "s3://scones/data-v3" and second.parent == first.uri
    assert second.duplicates == 10 and sum(second.added.values()) == 10  # the first ten are in data-v2 already
    manifest = read_manifest(staged, second.uri)
    assert len(manifest["provenance"]) == 20 and {p["reviewer"] for p in manifest["provenance"]} == {"ana", "bo"}
    assert manifest["counts"]["reviewed-test"] == first.counts["reviewed-test"] + second.added["reviewed-test"]


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"items": []}, "No reviewed images for ep"),
        ({"into": "s3://scones/data"}, "is the parent dataset itself"),
        ({"into": "scones/data-v9"}, "is not an s3:// location"),
        ({"classes": ["cat", "dog"]}, "knows classes cat, dog"),
        ({"test_share": 1.0}, "--test-share 1.0 is out of range"),
        ({"parent": "s3://scones/nothing"}, "No dataset manifest at s3://scones/nothing/manifest.json"),
        ({"label": 2}, "has label 2 but s3://scones/data has 2 classes"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    settings: Settings, staged: Store, change: dict[str, object], phrase: str
) -> None:
    items = reviewed_items(4)
    if "label" in change:
        items = [replace(items[0], label=change.pop("label")), *items[1:]]  # type: ignore[arg-type]
    arguments = {"items": items, **change}
    with pytest.raises(DataError, match=phrase):
        add_reviewed(settings, staged, "ep", arguments.pop("items"), **arguments)  # type: ignore[arg-type]
    assert not any(staged.list("scones", "data-v2")) and newest_version(settings, "ep") is None


def test_an_existing_version_is_never_overwritten(settings: Settings, staged: Store) -> None:
    add_reviewed(settings, staged, "ep", reviewed_items(4))
    before = staged.get("scones", "data-v2/manifest.json")
    with pytest.raises(DataError, match="already holds a dataset"):
        add_reviewed(
            settings, staged, "ep", reviewed_items(4, seed=9), parent="s3://scones/data", into="s3://scones/data-v2"
        )
    assert staged.get("scones", "data-v2/manifest.json") == before
    assert json.loads(before)["counts"]["train"] == 64 + 4  # two per class: 20% rounds to none held out
