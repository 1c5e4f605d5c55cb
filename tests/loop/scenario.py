"""The review-loop scenario end to end, shared by the slow test and bench/review_loop.py.

A model trained on the dev data serves an endpoint with data capture; traffic switches to
"night camera" images (the training split's images darker, desaturated and noisy, made here
with NumPy); the monitor reports the shift and the review queue fills; the queue is labelled
from the known truth; `add_reviewed` + `retrain` make a candidate, judged against the current
model and rolled out by canary while concurrent clients send night traffic; the held-out night
images (the test split's images made night, never reviewed, never trained on) are sent
through the endpoint before and after.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from scones.config import Settings
from scones.storage import Store
from tests.monitor.support import png

NAME = "night-cam"
LOW = 0.93
DEV_ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar-100-python-bike-moto-dev.tar.gz"


def night(images: np.ndarray, seed: int) -> np.ndarray:
    """A night camera: half the colour gone, half the light, sensor noise (sigma 6 of 255)."""
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32)
    x = 0.5 * x + 0.5 * x.mean(axis=3, keepdims=True)
    x = x * 0.5 + rng.normal(0.0, 6.0, x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


@dataclass
class Sent:
    """What the endpoint answered to a batch: accuracy and the share of answers below 0.93."""

    answers: int
    accuracy: float
    low_confidence: float
    failures: list[str] = field(default_factory=list)


def send(url: str, images: np.ndarray, labels: np.ndarray, ids: list[str], clients: int = 4) -> Sent:
    """POST each image with its inference id from `clients` threads; every answer compared with its label."""
    bodies = [png(a) for a in images]
    results: list[tuple[int, float] | None] = [None] * len(bodies)
    failures: list[str] = []
    counter = iter(range(len(bodies)))
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                headers = {"Content-Type": "image/png", "X-Amzn-SageMaker-Inference-Id": ids[i]}
                try:
                    reply = client.post(f"{url}/invocations", content=bodies[i], headers=headers)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if reply.status_code != 200:
                    failures.append(f"{reply.status_code} {reply.text[:200]}")
                    continue
                p = reply.json()
                results[i] = (int(np.argmax(p)), float(max(p)))

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [(r, int(y)) for r, y in zip(results, labels, strict=True) if r is not None]
    return Sent(
        answers=len(done),
        accuracy=float(np.mean([r[0] == y for r, y in done])) if done else 0.0,
        low_confidence=float(np.mean([r[1] < LOW for r, _ in done])) if done else 0.0,
        failures=failures,
    )


class Background:
    """Clients posting night images until stopped (the traffic during the rollout); failures recorded."""

    def __init__(self, url: str, images: np.ndarray, clients: int = 4) -> None:
        self.url, self.bodies = url, [png(a) for a in images]
        self.stop, self.sent, self.failures = threading.Event(), 0, []  # type: ignore[var-annotated]
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.started = True
            for t in self.threads:
                t.start()

    def _run(self, offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = offset
            while not self.stop.is_set():
                body = self.bodies[i % len(self.bodies)]
                i += len(self.threads)
                try:
                    reply = client.post(f"{self.url}/invocations", content=body, headers={"Content-Type": "image/png"})
                    ok = reply.status_code == 200
                    problem = "" if ok else f"{reply.status_code} {reply.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, repr(exc)
                with self.lock:
                    self.sent += 1
                    if not ok:
                        self.failures.append(problem)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            if t.is_alive():
                t.join(120)


def _captured(settings: Settings, store: Store, since: datetime, until: datetime) -> int:
    from scones.monitor.captured import iter_records
    from scones.monitor.sources import endpoint_info

    return sum(1 for _ in iter_records(store, endpoint_info(settings, NAME).capture, since, until))


def run(
    settings: Settings,
    *,
    base_epochs: int,
    retrain_epochs: int,
    traffic: int,
    base_model: str | None = None,
    step_seconds: float = 10.0,
    tolerance: float = 0.03,
    clients: int = 4,
    log: Any = print,
) -> dict[str, Any]:
    """The whole scenario on `settings`' home; every figure the docs report."""
    from scones.data.dataset import read_split
    from scones.data.stage import stage
    from scones.endpoint import registry
    from scones.endpoint.deployments import Strategy
    from scones.endpoint.guardrails import Triggers
    from scones.endpoint.server import endpoint_config
    from scones.loop.retrain import Gates, RetrainOptions, retrain
    from scones.loop.versions import add_reviewed_for
    from scones.model.train import train
    from scones.monitor.service import BaselineRequest, RunRequest, make_baseline, run_monitor
    from scones.review import queue

    store = Store(settings)
    figures: dict[str, Any] = {}
    stage(store, DEV_ARCHIVE)
    started = time.monotonic()
    if base_model is None:
        job = train(settings, {"epochs": base_epochs}, name="base")
        base_model = job["artifact_uri"]
        figures["base_training_seconds"] = round(time.monotonic() - started, 1)
    log(f"base model {base_model}")
    train_split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    test_split = read_split(store, "s3://scones/data/test", "s3://scones/data/test.lst")
    order = np.random.default_rng(0).permutation(len(train_split))[:traffic]
    night_traffic, truth = night(train_split.images[order], 1), train_split.labels[order]
    held_out = night(test_split.images, 2)  # review never sees these, training never sees them
    config = endpoint_config(settings, name=NAME, port=0, workers=1, capture_percent=100.0)
    url = registry.deploy(settings, config, base_model, timeout=120).url
    try:
        make_baseline(settings, store, BaselineRequest(endpoint=NAME))
        ids = [f"night-{int(i)}" for i in order]
        time.sleep(1.05 - time.time() % 1)
        since = datetime.now(UTC).replace(microsecond=0)
        before = send(url, night_traffic, truth, ids, clients)
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        deadline = time.monotonic() + 60  # the capture writer holds records for a few seconds
        while time.monotonic() < deadline and _captured(settings, store, since, until) < traffic:
            time.sleep(1)
        monitored = run_monitor(settings, store, RunRequest(endpoint=NAME, since=since, until=until))
        figures["monitor"] = {
            "status": monitored.status,
            "violations": sorted({v["constraint_check_type"] for v in monitored.violations}),
        }
        figures["night_traffic_before"] = before.__dict__
        log(f"night traffic: {before}; monitor: {figures['monitor']}")
        held_before = send(url, held_out, test_split.labels, [f"held-before-{i}" for i in range(len(held_out))])
        figures["held_out_night_before"] = held_before.__dict__
        queued = queue.refresh(settings, NAME)
        truth_by_id = dict(zip(ids, truth.tolist(), strict=True))
        pending = [i for i in queue.items(settings, NAME, status="pending") if i.id in truth_by_id]
        labelled = queue.label_many(settings, NAME, [(i.id, truth_by_id[i.id]) for i in pending], reviewer="scenario")
        figures["queue"] = {"queued": queued, "labelled": labelled}
        log(f"queue: {figures['queue']}")
        version = add_reviewed_for(settings, store, NAME)
        figures["dataset"] = {"uri": version.uri, "counts": version.counts, "added": version.added}
        background = Background(url, night_traffic, clients)

        def phase(entry: dict[str, Any]) -> None:
            log(f"rollout {entry['phase']}")
            background.start()  # from the rollout's first phase on, clients keep sending

        strategy = Strategy("canary", 10.0, interval_seconds=step_seconds, bake_seconds=step_seconds)
        # The test split has 100 images: one image is 0.01 and the standard error ~0.03, so the
        # scenario's tolerance is three images (retrain's default, 0.01, is one).
        options = RetrainOptions(
            epochs=retrain_epochs,
            gates=Gates(tolerance=tolerance),
            strategy=strategy,
            triggers=Triggers(min_requests=10, compare_share=0.0),  # as retrain's default: no disagreement trigger
        )
        try:
            result = retrain(settings, NAME, options, on_phase=phase)
        finally:
            background.close()
        figures["retrain"] = {
            "candidate": result["candidate"]["model"],
            "training_seconds": result["candidate"]["training_seconds"],
            "warm_start": result["candidate"]["warm_start"],
            "comparison": result["comparison"],
            "decision": result["decision"],
        }
        figures["rollout_traffic"] = {"requests": background.sent, "failed": len(background.failures)}
        log(f"retrain: {figures['retrain']}; rollout traffic {figures['rollout_traffic']}")
        held_after = send(url, held_out, test_split.labels, [f"held-after-{i}" for i in range(len(held_out))])
        figures["held_out_night_after"] = held_after.__dict__
        day_after = send(url, test_split.images, test_split.labels, [f"day-after-{i}" for i in range(len(held_out))])
        figures["test_split_after_via_endpoint"] = day_after.__dict__
        figures["failures"] = before.failures + held_before.failures + held_after.failures + background.failures
    finally:
        registry.delete(settings, NAME)
    return figures
