"""The review queue: what enters it from real captures, incrementally and without duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from scones.config import Settings
from scones.monitor import runs
from scones.review import queue
from scones.review.errors import ReviewError
from scones.review.selection import ReviewConfig, draw
from scones.storage import Store
from tests.review.support import capture, image, register

NONE_SAMPLED = ReviewConfig(sample_confident=0.0, sample_drift=0.0)


def test_low_confidence_answers_enter_with_image_answer_variant_and_ids(settings: Settings, store: Store) -> None:
    register(settings)
    register(settings, "ep-2")
    capture(store, [0.5], name="ep-2")  # another endpoint's captures stay out of ep's queue
    confidences = [0.99, 0.6, 0.95, 0.7, 0.92, 0.999]
    ids = [None, "req-1", None, None, "req-4", None]
    images = capture(store, confidences, inference_ids=ids)
    added = queue.update(settings, "ep", NONE_SAMPLED)
    assert added.added == 3 and added.records == 6 and added.unusable == 0
    found = queue.items(settings, "ep")
    assert [round(i.confidence, 2) for i in found] == [0.6, 0.7, 0.92]
    assert [i.predicted for i in found] == [1, 1, 0]  # odd positions answered motorcycle
    assert [i.reason for i in found] == ["low-confidence"] * 3
    assert found[0].id == "req-1" and found[0].inference_id == "req-1" and found[0].event_id != "req-1"
    assert found[1].inference_id is None and found[1].id == found[1].event_id
    assert {i.variant for i in found} == {"AllTraffic"} and {i.status for i in found} == {"pending"}
    assert queue.image(settings, "ep", "req-1") == (images[1], "image/png")


def test_refresh_reads_only_new_bytes_and_never_duplicates(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.5, 0.6])
    assert queue.refresh(settings, "ep") == 2
    assert queue.refresh(settings, "ep") == 0
    # Overwrite the file already read with garbage of the same size: a refresh that reread it would see it.
    (old,) = [o for o in store.list(settings.bucket, "data_capture/ep")]
    store.put(settings.bucket, old.key, b"x" * (old.size - 1) + b"\n")
    capture(store, [0.55], first_shade=50)
    again = queue.update(settings, "ep")
    assert (again.added, again.files, again.records, again.unusable) == (1, 1, 1, 0)
    assert len(queue.items(settings, "ep")) == 3


def test_a_record_captured_twice_is_one_item(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.5], inference_ids=["same"])
    capture(store, [0.6], inference_ids=["same"], first_shade=9)
    assert queue.refresh(settings, "ep") == 1
    assert [i.id for i in queue.items(settings, "ep")] == ["same"]


def test_a_line_still_being_written_is_read_next_time(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.5, 0.6])
    (obj,) = list(store.list(settings.bucket, "data_capture/ep"))
    whole = store.get(settings.bucket, obj.key)
    cut = whole.index(b"\n") + 10
    store.put(settings.bucket, obj.key, whole[:cut])
    assert queue.refresh(settings, "ep") == 1
    store.put(settings.bucket, obj.key, whole)
    assert queue.refresh(settings, "ep") == 1


def test_confident_answers_are_sampled_by_event_id_deterministically(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.99] * 300)
    config = ReviewConfig(sample_confident=0.1, sample_drift=0.0)
    assert queue.update(settings, "ep", config).added == len(queue.items(settings, "ep"))
    chosen = queue.items(settings, "ep")
    assert 15 <= len(chosen) <= 50 and {i.reason for i in chosen} == {"sampled"}
    assert all(draw(i.event_id, "sampled") < 0.1 for i in chosen)
    everything = [json.loads(line)["eventMetadata"]["eventId"] for line in _lines(store, settings)]
    assert {i.event_id for i in chosen} == {e for e in everything if draw(e, "sampled") < 0.1}


def test_a_drifted_window_is_sampled_even_after_it_was_read(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.99] * 200)
    assert queue.update(settings, "ep", NONE_SAMPLED).added == 0
    now = datetime.now(UTC)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    runs.start(settings, "run-ok", "ep", "c", "b", (now - timedelta(hours=1)).strftime(iso), None)
    runs.finish(settings, "run-ok", "Completed", 200, 0)
    config = ReviewConfig(sample_confident=0.0, sample_drift=0.25)
    assert queue.update(settings, "ep", config).added == 0  # no violations: nothing drifted
    runs.start(settings, "run-1", "ep", "c", "b", (now - timedelta(hours=1)).strftime(iso), None)
    runs.finish(settings, "run-1", "CompletedWithViolations", 200, 2)
    found = queue.update(settings, "ep", config)
    assert found.drift_runs == 1 and 25 <= found.added <= 75
    assert {i.reason for i in queue.items(settings, "ep")} == {"drift"}
    assert queue.update(settings, "ep", config).added == 0  # each run is sampled once
    capture(store, [0.99] * 100, first_shade=7)  # new records inside the drifted window
    later = queue.update(settings, "ep", config)
    assert later.drift_runs == 0 and 5 <= later.added <= 45


def test_drift_outside_the_window_adds_nothing(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.99] * 50)
    runs.start(settings, "run-old", "ep", "c", "b", "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z")
    runs.finish(settings, "run-old", "CompletedWithViolations", 10, 1)
    assert queue.update(settings, "ep", ReviewConfig(sample_confident=0.0, sample_drift=1.0)).added == 0


def test_every_variant_and_the_older_layout_without_variant(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.5], variant="canary")
    capture(store, [0.6], first_shade=3)
    (line,) = _lines(store, settings)[:1]
    record = json.loads(line)
    record["eventMetadata"]["eventId"] = "old-layout"
    store.put(settings.bucket, "data_capture/ep/2025/01/02/03/00-00-000-x.jsonl", json.dumps(record).encode() + b"\n")
    assert queue.refresh(settings, "ep") == 3
    variants = {i.id: i.variant for i in queue.items(settings, "ep")}
    assert (
        sorted(variants.values()) == ["AllTraffic", "AllTraffic", "canary"] and variants["old-layout"] == "AllTraffic"
    )


def test_unusable_lines_are_counted_not_fatal(settings: Settings, store: Store) -> None:
    register(settings)
    store.put(settings.bucket, "data_capture/ep/AllTraffic/2026/01/01/00/a.jsonl", b'not json\n{"captureData": 1}\n')
    capture(store, [0.5])
    result = queue.update(settings, "ep")
    assert (result.added, result.unusable) == (1, 2)


def test_captures_in_s3_are_read_the_same(s3_settings: Settings, s3_store: Store) -> None:
    register(s3_settings)
    register(s3_settings, "ep-2")  # a name that extends the other: its captures are not ep's
    capture(s3_store, [0.5, 0.99, 0.8])
    capture(s3_store, [0.5, 0.6], name="ep-2")
    assert queue.update(s3_settings, "ep", NONE_SAMPLED).added == 2
    assert {i.endpoint for i in queue.items(s3_settings, "ep")} == {"ep"}
    assert queue.refresh(s3_settings, "ep") == 0


def test_unknown_endpoint_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(ReviewError, match="Unknown endpoint 'nope'"):
        queue.refresh(settings, "nope")
    with pytest.raises(ReviewError, match="Unknown endpoint"):
        queue.items(settings, "nope")


def test_an_endpoint_without_captures_has_an_empty_queue(settings: Settings) -> None:
    register(settings)
    assert queue.refresh(settings, "ep") == 0 and queue.items(settings, "ep") == []
    assert image(1) != image(2)


def _lines(store: Store, settings: Settings) -> list[bytes]:
    lines: list[bytes] = []
    for obj in store.list(settings.bucket, "data_capture/ep"):
        lines += store.get(settings.bucket, obj.key).splitlines()
    return lines


def test_refresh_takes_the_shares_from_the_environment(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(settings)
    capture(store, [0.99] * 20)
    monkeypatch.setenv("SCONES_SAMPLE_CONFIDENT", "1")
    assert queue.refresh(settings, "ep") == 20


def test_refresh_all_reads_every_known_queue(settings: Settings, store: Store) -> None:
    register(settings)
    register(settings, "other")
    queue.refresh(settings, "ep")
    queue.refresh(settings, "other")
    capture(store, [0.5])
    capture(store, [0.6, 0.7], name="other")
    assert queue.refresh_all(settings) == 3
    assert queue.counts(settings, "other")["pending"] == 2
