"""ModelSlot: the one place the App takes its service from, and the swap that never drops a request."""

from __future__ import annotations

import asyncio
import json

import pytest

from scones.config import Settings
from scones.endpoint.errors import ServiceUnavailable
from scones.endpoint.service import EndpointConfig, InferenceService
from scones.endpoint.slot import ModelSlot
from scones.storage import Store
from tests.helpers import flipped_artifact, png_bytes, tiny_artifact

RED = (200, 30, 30)


def service(settings: Settings, flipped: bool = False) -> InferenceService:
    artifact = flipped_artifact() if flipped else tiny_artifact()
    return InferenceService(artifact, EndpointConfig(port=0, capture_percent=100), Store(settings))


def test_an_empty_slot_is_unavailable() -> None:
    slot = ModelSlot("AllTraffic")
    assert slot.model_sha256 is None and slot.weight == 1.0
    with pytest.raises(ServiceUnavailable):
        slot.ready()
    with pytest.raises(ServiceUnavailable), slot.serving():
        pass


def test_serving_counts_the_request_in_flight(settings: Settings) -> None:
    first = service(settings)
    slot = ModelSlot("AllTraffic", service=first)
    assert slot.model_sha256 == first.manifest.model_sha256
    with slot.serving() as taken:
        assert taken is first and first.in_flight == 1
    assert first.in_flight == 0
    with pytest.raises(ValueError), slot.serving():
        raise ValueError("the request failed")
    assert first.in_flight == 0  # counted back down on failure too
    slot.close()
    with pytest.raises(ServiceUnavailable):
        slot.ready()  # a closed service takes no requests


def test_swap_waits_for_the_old_services_requests_then_closes_it(settings: Settings) -> None:
    old, new = service(settings), service(settings, flipped=True)
    slot = ModelSlot("AllTraffic", service=old)

    async def scenario() -> tuple[list[float], list[float]]:
        with slot.serving() as taken:  # a request is inside the old model when the swap begins
            swap = asyncio.create_task(slot.swap(new))
            await asyncio.sleep(0.05)
            assert slot.service is new  # new requests already go to the new model
            assert old.ready and not swap.done()  # ...but the old one is kept for the request inside it
            before = await taken.invoke(png_bytes(RED), "image/png")
        await swap
        assert not old.ready and slot.service is new
        with slot.serving() as taken:
            after = await taken.invoke(png_bytes(RED), "image/png")
        return json.loads(before[0]), json.loads(after[0])

    before, after = asyncio.run(scenario())
    assert before[0] > 0.99 and after[1] > 0.99  # the old model answered red as class 0, the new one as 1
    slot.close()
    captured = sum(
        len(Store(settings).get("scones", o.key).splitlines()) for o in Store(settings).list("scones", "data_capture")
    )
    assert captured == 2  # closing the old service flushed its capture; closing the slot flushed the new one's
