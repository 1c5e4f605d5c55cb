from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from scones.monitor.captured import parse_record
from scones.monitor.constraints import MonitorConfig
from scones.monitor.window import COLUMNS, Reservoir, WindowBuilder
from tests.data.photos import jpeg, png
from tests.helpers import png_bytes
from tests.monitor.support import T0, record


def test_reservoir_is_uniform_and_bounded() -> None:
    hits = np.zeros(1000)
    for seed in range(200):
        reservoir = Reservoir(100, np.random.default_rng(seed))
        for start in range(0, 1000, 64):  # batches of uneven sizes
            reservoir.add(np.arange(start, min(start + 64, 1000)))
        (kept,) = reservoir.arrays()
        assert len(kept) == 100 and len(set(kept.tolist())) == 100
        hits[kept] += 1
    # each item kept with probability 0.1: 20 of 200 runs; early and late items alike
    assert abs(hits[:500].mean() - 20) < 2 and abs(hits[500:].mean() - 20) < 2


def _line(body: bytes, probs: list[float] | None, content_type: str = "image/png") -> bytes:
    return json.dumps(record(body, probs, T0, content_type=content_type)).encode()


def test_counts_and_sample() -> None:
    config = MonitorConfig(max_rows=5, batch_size=4, embedding_sample=3, grid_images=2)
    builder = WindowBuilder(["bicycle", "motorcycle"], 0.93, config, labels=None)
    lines = [_line(png_bytes((200, 20, 20)), [0.97, 0.03]) for _ in range(6)]
    lines += [_line(png_bytes(), [0.6, 0.4])]  # low confidence
    lines += [_line(b"not an image", [0.1, 0.9], content_type="text/plain")]  # undecodable, odd type
    body = json.loads(_line(png_bytes(), None))
    body["captureData"]["endpointOutput"] = {"data": '{"errorType": "ModelError"}', "encoding": "JSON"}
    lines += [json.dumps(body).encode()]  # error response
    lines += [_line(png_bytes((9, 9, 9), size=64), [0.2, 0.8])]  # odd size, flat colour
    lines += [
        _line(jpeg(np.full((32, 32, 3), 9, np.uint8), (48, 40)), [0.2, 0.8], "image/jpeg")
    ]  # a JPEG of odd size too
    lines += [_line(jpeg(np.full((32, 32, 3), 9, np.uint8)), [0.2, 0.8], "image/jpeg")]  # a JPEG of the model's size
    for line in lines:
        builder.add(parse_record(line))
    window = builder.finish()
    c = window.counts
    assert c["records"] == 12 and c["inputs"] == 12 and c["undecodable"] == 1 and c["decoded"] == 11
    assert c["outputs"] == 11 and c["error_responses"] == 1 and c["low_confidence"] == 5
    assert c["unexpected_content_type"] == 1 and c["odd_size"] == 2 and c["blank_images"] == 11
    assert window.class_counts.tolist() == [7, 4]
    assert window.rows.shape == (5, len(COLUMNS))  # the sample, bounded by max_rows
    assert len(window.embedding_images) == 3 and len(window.grid["images"]) == 2


def test_a_jpeg_over_pillows_pixel_limit_is_odd_and_undecodable_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a large JPEG's size must not warn (the suite turns warnings into errors): decode refuses it."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 40x40 JPEG (1,600 pixels) is then over it
    builder = WindowBuilder(["bicycle", "motorcycle"], 0.93, MonitorConfig(), labels=None)
    builder.add(parse_record(_line(jpeg(np.full((40, 40, 3), 9, np.uint8)), [0.2, 0.8], "image/jpeg")))
    c = builder.finish().counts
    assert c["odd_size"] == 1 and c["undecodable"] == 1 and c["decoded"] == 0


def test_labels_match_inference_id_then_event_id() -> None:
    config = MonitorConfig(batch_size=2)
    first = json.loads(_line(png_bytes(), [0.9, 0.1]))
    first["eventMetadata"]["inferenceId"] = "inf-1"
    second = json.loads(_line(png_bytes(), [0.1, 0.9]))
    labels = {"inf-1": 0, second["eventMetadata"]["eventId"]: 0}
    builder = WindowBuilder(["a", "b"], 0.93, config, labels=labels)
    for body in (first, second):
        builder.add(parse_record(json.dumps(body)))
    window = builder.finish()
    assert window.counts["labelled"] == 2 and window.counts["correct"] == 1


def test_inputs_are_fitted_as_the_model_fits_them() -> None:
    """A wide photo: blue | red | blue thirds. A "crop" model sees the red centre; "stretch" squeezes all three."""
    pixels = np.zeros((32, 96, 3), dtype=np.uint8)
    pixels[:, :, 2] = 220
    pixels[:, 32:64] = (220, 0, 0)
    body = png(Image.fromarray(pixels))
    seen = {}
    for fit in ("crop", "stretch"):
        config = MonitorConfig(embedding_sample=1)
        builder = WindowBuilder(["a", "b"], 0.93, config, image_size=(32, 32), fit=("bilinear", fit))
        builder.add(parse_record(_line(body, [0.5, 0.5])))
        (image,) = builder.finish().embedding_images
        seen[fit] = image.reshape(-1, 3).mean(axis=0)
    assert seen["crop"][0] > 200 and seen["crop"][2] < 20  # the centre third only
    assert 50 < seen["stretch"][0] < 100 and seen["stretch"][2] > 120  # all three squeezed
