"""End to end with a real endpoint: `scones deploy` with capture on, requests through boto3's
sagemaker-runtime client (some with an InferenceId), and the review queue filled from what the
endpoint captured, keyed as Model Monitor merges ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.service import EndpointConfig
from scones.review import queue
from scones.review.errors import ReviewError
from scones.review.selection import ReviewConfig
from scones.storage import Store
from tests.helpers import png_bytes


def test_the_queue_fills_from_a_served_endpoints_capture(settings: Settings, store: Store, model_file: Path) -> None:
    import boto3

    store.put(settings.bucket, "models/m/model.tar.gz", model_file.read_bytes())
    model = f"s3://{settings.bucket}/models/m/model.tar.gz"
    record = registry.deploy(settings, EndpointConfig(name="ep", port=0, capture_percent=100), model)
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=record.url, region_name="us-east-1")
        colours = [(200, 30, 30), (30, 30, 200), (120, 120, 120), (20, 180, 40)]
        for i, colour in enumerate(colours):
            extra = {"InferenceId": f"caller-{i}"} if i % 2 == 0 else {}
            runtime.invoke_endpoint(EndpointName="ep", ContentType="image/png", Body=png_bytes(colour), **extra)
        every = ReviewConfig(sample_confident=1.0, sample_drift=0.0)
        added, deadline = 0, time.monotonic() + 30  # the capture writer writes a file within 5 s
        while added < len(colours) and time.monotonic() < deadline:
            result = queue.update(settings, "ep", every)
            added += result.added
            assert result.unusable == 0
            time.sleep(0.2)
        assert added == len(colours)
    finally:
        registry.delete(settings, "ep")
    found = {i.id: i for i in queue.items(settings, "ep")}
    assert {"caller-0", "caller-2"} <= set(found)
    others = [i for i in found.values() if i.inference_id is None]
    assert len(others) == 2 and all(i.id == i.event_id for i in others)
    assert {i.variant for i in found.values()} == {"AllTraffic"}
    assert queue.image(settings, "ep", "caller-2") == (png_bytes(colours[2]), "image/png")
    low = {i.id for i in found.values() if i.confidence < settings.threshold}
    assert all((i.reason == "low-confidence") == (i.id in low) for i in found.values())
    # The endpoint is gone, but its queue stays workable: labels by class name still resolve.
    queue.label(settings, "ep", "caller-0", "motorcycle")
    assert [r.label for r in queue.reviewed(settings, "ep")] == [1]
    with pytest.raises(ReviewError, match="Unknown class"):
        queue.label(settings, "ep", "caller-0", "car")
