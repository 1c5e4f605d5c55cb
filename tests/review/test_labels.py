"""Labels: history kept, last label wins, undo, skip, and the ground truth Model Monitor reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from scones.config import Settings
from scones.monitor.labels import load_labels
from scones.review import groundtruth, queue
from scones.review.errors import ReviewError
from scones.storage import Store
from tests.review.support import CLASSES, capture, register


@pytest.fixture
def ids(settings: Settings, store: Store) -> list[str]:
    register(settings)
    capture(store, [0.5, 0.6, 0.7, 0.8], inference_ids=["a", None, "c", None])
    queue.refresh(settings, "ep")
    return [i.id for i in queue.items(settings, "ep")]


def _ground_truth(settings: Settings, store: Store) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for obj in store.list(settings.bucket, "ground-truth/ep"):
        assert obj.key.count("/") == 6  # ground-truth/ep/yyyy/mm/dd/hh/file.jsonl
        records += [json.loads(line) for line in store.get(settings.bucket, obj.key).splitlines()]
    return records


def test_a_label_is_stored_and_written_as_sagemaker_ground_truth(
    settings: Settings, store: Store, ids: list[str]
) -> None:
    queue.label(settings, "ep", "a", "motorcycle", reviewer="ann")
    queue.label(settings, "ep", ids[1], 0, reviewer="bob")
    expected = [
        {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "a"}, "eventVersion": "0"},
        {
            "groundTruthData": {"data": "0", "encoding": "CSV"},
            "eventMetadata": {"eventId": ids[1]},
            "eventVersion": "0",
        },
    ]
    assert sorted(_ground_truth(settings, store), key=str) == sorted(expected, key=str)
    labels = load_labels(store, groundtruth.location(settings.bucket, "ep"), CLASSES)
    assert labels.by_id == {"a": 1, ids[1]: 0} and labels.bad_lines == 0
    done = queue.reviewed(settings, "ep")
    assert [(r.id, r.label, r.reviewer) for r in done] == [("a", 1, "ann"), (ids[1], 0, "bob")]
    assert done[0].inference_id == "a" and done[0].image.startswith(b"\x89PNG") and done[0].content_type == "image/png"
    assert done[0].labelled_at.endswith("Z") and done[0].endpoint == "ep" and done[0].variant == "AllTraffic"
    assert queue.counts(settings, "ep") == {"pending": 2, "labelled": 2, "skipped": 0}


def test_last_label_wins_history_is_kept_ground_truth_holds_one_record(
    settings: Settings, store: Store, ids: list[str]
) -> None:
    queue.label(settings, "ep", "a", 0, reviewer="ann")
    queue.label(settings, "ep", "a", 1, reviewer="bob")
    assert [(r.label, r.reviewer) for r in queue.reviewed(settings, "ep")] == [(1, "bob")]
    assert [(h.label, h.reviewer) for h in queue.history(settings, "ep", "a")] == [(0, "ann"), (1, "bob")]
    records = _ground_truth(settings, store)
    assert [(r["eventMetadata"], r["groundTruthData"]["data"]) for r in records] == [({"eventId": "a"}, "1")]


def test_undo_brings_back_the_label_before(settings: Settings, store: Store, ids: list[str]) -> None:
    queue.label(settings, "ep", "a", 0, reviewer="ann")
    queue.label(settings, "ep", "a", 1, reviewer="bob")
    undone = queue.undo(settings, "ep", "a")
    assert (undone.label, undone.reviewer) == (1, "bob")
    assert [(r.label, r.reviewer) for r in queue.reviewed(settings, "ep")] == [(0, "ann")]
    assert [r["groundTruthData"]["data"] for r in _ground_truth(settings, store)] == ["0"]
    queue.undo(settings, "ep", "a")
    assert queue.reviewed(settings, "ep") == [] and _ground_truth(settings, store) == []
    assert queue.item(settings, "ep", "a").status == "pending"
    assert [h.undone is not None for h in queue.history(settings, "ep", "a")] == [True, True]
    with pytest.raises(ReviewError, match="nothing|no label or skip"):
        queue.undo(settings, "ep", "a")


def test_skipped_items_are_not_reviewed_and_undo_returns_them(settings: Settings, ids: list[str]) -> None:
    queue.skip(settings, "ep", ids[1], reviewer="ann")
    assert queue.item(settings, "ep", ids[1]).status == "skipped" and queue.reviewed(settings, "ep") == []
    assert [i.id for i in queue.items(settings, "ep", "pending")] == [ids[0], ids[2], ids[3]]
    queue.undo(settings, "ep", ids[1])
    assert queue.item(settings, "ep", ids[1]).status == "pending"


def test_a_batch_is_all_or_nothing(settings: Settings, store: Store, ids: list[str]) -> None:
    with pytest.raises(ReviewError, match="Unknown item id 'zzz'"):
        queue.label_many(settings, "ep", [("a", 1), ("zzz", 0)])
    with pytest.raises(ReviewError, match="Unknown class 'car'.*0=bicycle, 1=motorcycle"):
        queue.label_many(settings, "ep", [("a", 1), ("c", "car")])
    assert queue.reviewed(settings, "ep") == [] and _ground_truth(settings, store) == []
    assert queue.label_many(settings, "ep", [("a", 1), ("c", "Bicycle")]) == 2
    assert len(list(store.list(settings.bucket, "ground-truth/ep"))) == 1  # one object per batch
    queue.label(settings, "ep", "a", 0)  # relabelling one of a batch rewrites that object without it
    assert sorted(
        (r["eventMetadata"]["eventId"], r["groundTruthData"]["data"]) for r in _ground_truth(settings, store)
    ) == [
        ("a", "0"),
        ("c", "0"),
    ]


def test_unknown_id_and_class_are_clear_errors(settings: Settings, ids: list[str]) -> None:
    with pytest.raises(ReviewError, match="Unknown item id 'nope' in the review queue of ep"):
        queue.label(settings, "ep", "nope", 0)
    with pytest.raises(ReviewError, match="Unknown class 2"):
        queue.label(settings, "ep", "a", 2)
    with pytest.raises(ReviewError, match="Unknown item id"):
        queue.skip(settings, "ep", "nope")


def test_ground_truth_in_s3_is_what_boto3_lists_and_reads(s3_settings: Settings, s3_store: Store) -> None:
    """With --storage s3 the records land in S3 under the hourly prefix a Model Monitor schedule reads."""
    import boto3

    register(s3_settings)
    capture(s3_store, [0.5], inference_ids=["a"])
    queue.refresh(s3_settings, "ep")
    before = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    queue.label(s3_settings, "ep", "a", "motorcycle")
    hours = {before, datetime.now(UTC).strftime("%Y/%m/%d/%H")}  # the label may fall either side of an hour
    s3 = boto3.client("s3", endpoint_url=s3_settings.s3_endpoint_url, region_name="us-east-1")
    (listed,) = s3.list_objects_v2(Bucket=s3_settings.bucket, Prefix="ground-truth/ep/")["Contents"]
    assert listed["Key"].rsplit("/", 1)[0] in {f"ground-truth/ep/{hour}" for hour in hours}
    assert listed["Key"].endswith(".jsonl")
    body = s3.get_object(Bucket=s3_settings.bucket, Key=listed["Key"])["Body"].read()
    assert json.loads(body) == {
        "groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "a"}, "eventVersion": "0",
    }  # fmt: skip


def test_an_item_keyed_by_its_inference_id_is_found_by_its_event_id_too(
    settings: Settings, store: Store, ids: list[str]
) -> None:
    event_id = queue.item(settings, "ep", "a").event_id
    assert queue.item(settings, "ep", event_id).id == "a"
    queue.label(settings, "ep", event_id, "motorcycle")  # the ground truth still names the inferenceId
    assert [r["eventMetadata"]["eventId"] for r in _ground_truth(settings, store)] == ["a"]
    queue.skip(settings, "ep", event_id)
    assert [h.item_id for h in queue.history(settings, "ep", "a")] == ["a", "a"]
