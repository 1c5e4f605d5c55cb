"""update-endpoint: the model changes under load, with no failed request (real processes, real HTTP)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.registry import update_endpoint
from scones.endpoint.server import endpoint_config
from scones.errors import ArtifactError, EndpointError
from scones.model.artifact import Artifact, sha256
from tests.endpoint.traffic import Traffic
from tests.helpers import flipped_artifact, png_bytes, tiny_artifact, write_model

NAME = "update-test"


@pytest.mark.parametrize("workers", [1, 2])
def test_update_under_load_fails_no_request(settings: Settings, tmp_path: Path, model_file: Path, workers: int) -> None:
    first, second = model_file, write_model(tmp_path / "b.tar.gz", flipped_artifact())
    config = endpoint_config(settings, name=NAME, port=0, workers=workers, capture_percent=100)
    record = registry.deploy(settings, config, str(first), timeout=60)
    try:
        with Traffic(record.url, clients=4) as load:
            time.sleep(0.5)
            started = time.monotonic()
            updated = update_endpoint(settings, NAME, str(second), timeout=60)
            switched = time.monotonic()
            deadline = switched + 20  # a loaded machine may take a while to answer the next requests
            while len(load.since(switched)) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert load.failures == []
        assert updated.status == "InService" and updated.model == str(second)
        assert updated.pid == record.pid and updated.url == record.url  # same process, same URL
        # answered before the update began: a request sent earlier may reach a loaded server after the swap
        before = [a.label for a in load.answers if a.sent + a.seconds < started]
        after = [a.label for a in load.since(switched)]
        assert before and set(before) == {0}  # the old model answered until the update began
        assert after and set(after) == {1}  # every worker serves the new one once update returns
    finally:
        registry.delete(settings, NAME)


def test_bad_model_is_refused_and_the_endpoint_keeps_serving(
    settings: Settings, tmp_path: Path, model_file: Path
) -> None:
    good, bad = model_file, tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    record = registry.deploy(settings, endpoint_config(settings, name=NAME, port=0), str(good), timeout=60)
    try:
        with pytest.raises(ArtifactError):
            update_endpoint(settings, NAME, str(bad))
        described = registry.describe(settings, NAME)
        assert described.status == "InService" and described.model == str(good)
        reply = httpx.post(f"{record.url}/invocations", content=png_bytes(), headers={"content-type": "image/png"})
        assert reply.status_code == 200
    finally:
        registry.delete(settings, NAME)


def test_unknown_endpoint(settings: Settings, model_file: Path) -> None:
    with pytest.raises(EndpointError, match="No endpoint named"):
        update_endpoint(settings, "nope", str(model_file))


def test_a_model_the_workers_cannot_load_is_reported_and_the_old_one_keeps_serving(
    settings: Settings, tmp_path: Path, model_file: Path
) -> None:
    good = model_file
    data = b"not an onnx graph"  # a well-formed artifact whose model ONNX Runtime refuses
    manifest = replace(tiny_artifact().manifest, model_sha256=sha256(data))
    broken = write_model(tmp_path / "broken.tar.gz", Artifact(manifest=manifest, onnx=data))
    record = registry.deploy(settings, endpoint_config(settings, name=NAME, port=0), str(good), timeout=60)
    try:
        with pytest.raises(EndpointError, match="kept its old model"):
            update_endpoint(settings, NAME, str(broken), timeout=30)
        reply = httpx.post(f"{record.url}/invocations", content=png_bytes(), headers={"content-type": "image/png"})
        assert reply.status_code == 200 and reply.json()[0] > 0.99  # still the old model's answer
        assert registry.describe(settings, NAME).model == str(good)  # the pointer went back
        flipped = write_model(tmp_path / "flipped.tar.gz", flipped_artifact())
        assert update_endpoint(settings, NAME, str(flipped), timeout=30).model == str(flipped)  # and it recovers
    finally:
        registry.delete(settings, NAME)
