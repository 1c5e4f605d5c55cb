"""Batch transform (endpoint/transform.py): one <name>.out per input, the endpoint's own answer, resumable,
corrupt inputs reported by name, on the local store and on S3 (moto)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from scones.endpoint import transform
from scones.errors import ConfigError, InvalidKey
from scones.storage import Store
from tests.data.photos import cifar_rows, jpeg, truncated
from tests.helpers import png_bytes, tiny_artifact

RED, BLUE = (200, 30, 30), (30, 30, 200)


def photos(store: Store, bucket: str, prefix: str = "photos") -> dict[str, bytes]:
    """A day of photos: PNGs and JPEGs of several sizes and modes, one nested folder; name -> bytes."""
    rows = cifar_rows(3, seed=8)
    files = {
        "red.png": png_bytes(RED),
        "blue.png": png_bytes(BLUE),
        "big-red.png": png_bytes(RED, size=300),
        "grey-rgba.png": png_bytes((128, 128, 128), mode="RGBA"),
        "cam/a.jpg": jpeg(rows[0], (160, 120)),
        "cam/b.jpg": jpeg(rows[1], (96, 96)),
        "cam/c.jpeg": jpeg(rows[2], (640, 480)),
    }
    for name, data in files.items():
        store.put(bucket, f"{prefix}/{name}", data)
    return files


def answers(store: Store, bucket: str, prefix: str = "out") -> dict[str, list[float]]:
    strip = len(prefix) + 1
    return {o.key[strip:]: json.loads(store.get(bucket, o.key)) for o in store.list(bucket, prefix)}


def test_one_out_per_input_with_the_endpoints_answer(store: Store, start_server: Callable[..., Any]) -> None:
    files = photos(store, "scones")
    result = transform.run(store, tiny_artifact(), "s3://scones/photos/", "s3://scones/out/", batch_size=3)
    assert (result.inputs, result.written, result.skipped, result.failed) == (7, 7, 0, [])
    written = {o.key: store.get("scones", o.key) for o in store.list("scones", "out")}
    assert sorted(written) == sorted(f"out/{name}.out" for name in files)
    assert json.loads(written["out/red.png.out"])[0] > 0.99  # tiny model: red -> class 0
    assert json.loads(written["out/blue.png.out"])[1] > 0.99
    with start_server() as server:  # byte for byte what the endpoint answers for the same image
        for name, data in files.items():
            request = urllib.request.Request(
                f"{server.url}/invocations", data=data, headers={"Content-Type": "application/x-image"}
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert reply.read() == written[f"out/{name}.out"], name


def test_rerun_skips_answered_inputs_and_finishes_the_rest(store: Store) -> None:
    photos(store, "scones")
    transform.run(store, tiny_artifact(), "s3://scones/photos", "s3://scones/out")
    store.delete("scones", "out/cam/a.jpg.out")  # as if the job had stopped before it
    store.put("scones", "out/red.png.out", b"kept")  # an answered input is not classified again
    result = transform.run(store, tiny_artifact(), "s3://scones/photos", "s3://scones/out")
    assert (result.written, result.skipped) == (1, 6)
    assert store.get("scones", "out/red.png.out") == b"kept"
    assert len(json.loads(store.get("scones", "out/cam/a.jpg.out"))) == 2


def test_corrupt_inputs_are_named_and_the_others_answered(store: Store) -> None:
    photos(store, "scones")
    store.put("scones", "photos/cut.jpg", truncated(jpeg(cifar_rows(1)[0], (96, 96))))
    store.put("scones", "photos/notes.txt", b"not an image")
    store.put("scones", "photos/empty.png", b"")
    result = transform.run(store, tiny_artifact(), "s3://scones/photos", "s3://scones/out", batch_size=2)
    reasons = dict(result.failed)
    assert sorted(reasons) == ["cut.jpg", "empty.png", "notes.txt"]
    assert "truncated" in reasons["cut.jpg"] or "not a readable image" in reasons["cut.jpg"]
    assert "no known image format" in reasons["notes.txt"]
    assert "empty" in reasons["empty.png"]
    assert result.written == 7 and len(answers(store, "scones")) == 7
    assert not store.exists("scones", "out/cut.jpg.out")


def test_oversized_input_is_refused_like_the_endpoints_body_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transform, "MAX_BODY_BYTES", 1000)
    store.put("scones", "photos/small.png", png_bytes(RED))
    store.put("scones", "photos/large.png", png_bytes(RED, size=600) + b"\0" * 2000)
    result = transform.run(store, tiny_artifact(), "s3://scones/photos", "s3://scones/out")
    assert result.written == 1
    assert [name for name, _ in result.failed] == ["large.png"] and "payload limit" in result.failed[0][1]


def test_json_lines_answers_and_a_single_object_input(store: Store) -> None:
    store.put("scones", "photos/red.png", png_bytes(RED))
    store.put("scones", "photos/blue.png", png_bytes(BLUE))
    result = transform.run(
        store, tiny_artifact(), "s3://scones/photos/red.png", "s3://scones/out", accept="application/jsonlines"
    )
    assert result.inputs == 1
    assert list(json.loads(store.get("scones", "out/red.png.out"))) == ["prediction"]


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        ({"output_uri": "s3://scones/photos/out"}, ConfigError, "is inside --input"),
        ({"input_uri": "s3://scones/nothing"}, ConfigError, "No objects under s3://scones/nothing"),
        ({"batch_size": 0}, ConfigError, "--batch-size 0 is invalid"),
        ({"workers": -1}, ConfigError, "--workers -1 is invalid"),
        ({"accept": "text/csv"}, ConfigError, "--accept 'text/csv' is not supported"),
        ({"output_uri": "s3://scones/../etc"}, InvalidKey, "Refused object key"),
    ],
)
def test_bad_arguments_write_nothing(store: Store, kwargs: dict[str, Any], error: type, phrase: str) -> None:
    store.put("scones", "photos/red.png", png_bytes(RED))
    arguments: dict[str, Any] = {"input_uri": "s3://scones/photos", "output_uri": "s3://scones/out", **kwargs}
    with pytest.raises(error, match=re.escape(phrase)):
        transform.run(store, tiny_artifact(), **arguments)
    assert [o.key for o in store.list("scones")] == ["photos/red.png"]


def test_on_s3(s3_store: Store) -> None:
    bucket = s3_store.settings.bucket
    files = photos(s3_store, bucket, "in/day1")
    result = transform.run(s3_store, tiny_artifact(), f"s3://{bucket}/in/day1/", f"s3://{bucket}/results/day1/")
    assert result.written == len(files)
    assert sorted(answers(s3_store, bucket, "results/day1")) == sorted(f"{n}.out" for n in files)
    again = transform.run(s3_store, tiny_artifact(), f"s3://{bucket}/in/day1/", f"s3://{bucket}/results/day1/")
    assert (again.written, again.skipped) == (0, len(files))
