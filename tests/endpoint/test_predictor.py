"""The ONNX Runtime predictor and the dynamic batcher."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from scones.endpoint.errors import ModelError, ServiceUnavailable
from scones.endpoint.predictor import BatchConfig, Batcher, Predictor, usable_cores
from scones.errors import ArtifactError
from scones.model.artifact import Artifact
from scones.model.preprocess import decode
from tests.helpers import png_bytes, tiny_artifact


def images(*colors: tuple[int, int, int]) -> np.ndarray:
    return np.stack([decode(png_bytes(c)) for c in colors])


def test_predictor_uses_the_cpu_provider_and_the_cores() -> None:
    predictor = Predictor(tiny_artifact())
    assert predictor.session.get_providers() == ["CPUExecutionProvider"]
    assert predictor.threads == usable_cores()
    probabilities = predictor.predict_images(images((200, 30, 30), (30, 30, 200)))
    assert probabilities.shape == (2, 2) and probabilities.dtype == np.float32
    assert probabilities[0, 0] > 0.99 and probabilities[1, 1] > 0.99


def test_model_failures_become_model_errors() -> None:
    with pytest.raises(ModelError, match="failed on this input"):
        Predictor(tiny_artifact()).predict(np.zeros((1, 3, 16, 16), dtype=np.float32))
    with pytest.raises(ArtifactError, match="cannot load"):
        Predictor(Artifact(tiny_artifact().manifest, b"not onnx"))


def test_batcher_groups_concurrent_requests_and_keeps_their_order() -> None:
    sizes: list[int] = []
    batcher = Batcher(Predictor(tiny_artifact()), BatchConfig(max_batch_size=8, max_wait_ms=5), on_batch=sizes.append)
    colors = [(200, 30, 30) if i % 3 else (30, 30, 200) for i in range(40)]

    async def run() -> list[np.ndarray]:
        return list(await asyncio.gather(*[batcher.predict(images(c)[0]) for c in colors]))

    results = asyncio.run(run())
    batcher.close()
    for color, result in zip(colors, results, strict=True):
        assert int(np.argmax(result)) == (0 if color[0] == 200 else 1)
    assert sum(sizes) == 40 and max(sizes) <= 8 and len(sizes) < 40


def test_batcher_runs_one_lane_per_core_by_default_and_lanes_share_the_work() -> None:
    import threading

    assert BatchConfig().lanes() == usable_cores() and BatchConfig(threads=3).lanes() == 3
    names: set[str] = set()
    predictor = Predictor(tiny_artifact(), threads=1)
    slow_predict = predictor.predict_images

    def predict_images(batch: np.ndarray) -> np.ndarray:
        names.add(threading.current_thread().name)
        time.sleep(0.02)  # long enough that the other lane takes the next batch meanwhile
        return slow_predict(batch)

    predictor.predict_images = predict_images  # type: ignore[method-assign]
    batcher = Batcher(predictor, BatchConfig(max_batch_size=2, max_wait_ms=0, threads=2))

    async def run() -> list[np.ndarray]:
        return list(await asyncio.gather(*[batcher.predict(images((200, 30, 30))[0]) for _ in range(12)]))

    results = asyncio.run(run())
    batcher.close()
    assert all(int(np.argmax(r)) == 0 for r in results)
    assert names == {"scones-batcher-0", "scones-batcher-1"}
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("scones-batcher")]


def test_a_lane_polls_for_work_only_while_warm_after_a_batch() -> None:
    import threading
    from pathlib import Path

    before = {thread.ident for thread in threading.enumerate()}
    batcher = Batcher(Predictor(tiny_artifact(), threads=1), BatchConfig(threads=1))
    (lane,) = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("scones-batcher")]

    def wakeups() -> int:  # the lane thread's voluntary context switches, from /proc
        status = Path(f"/proc/self/task/{lane.native_id}/status").read_text()
        return int(status.split("voluntary_ctxt_switches:")[1].split()[0])

    try:
        time.sleep(0.1)
        idle = wakeups()
        time.sleep(0.3)
        assert wakeups() - idle <= 2  # never ran a batch: asleep until notified
        asyncio.run(batcher.predict(images((200, 30, 30))[0]))
        warm = wakeups()
        time.sleep(0.03)
        assert wakeups() - warm >= 3  # warm: looks for work every millisecond
        time.sleep(0.1)
        cold = wakeups()
        time.sleep(0.3)
        assert wakeups() - cold <= 2  # cold again: asleep
    finally:
        batcher.close()


def test_batcher_refuses_work_after_close() -> None:
    batcher = Batcher(Predictor(tiny_artifact()), BatchConfig())
    batcher.close()
    with pytest.raises(ServiceUnavailable):
        asyncio.run(batcher.predict(images((1, 2, 3))[0]))
