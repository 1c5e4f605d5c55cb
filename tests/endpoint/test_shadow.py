"""Shadow variants on a real endpoint process: copies off the request path, captured under their own
name, and the shadow report's figures against ones computed here from the captured records."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.server import endpoint_config
from scones.endpoint.shadow_report import shadow_report
from scones.endpoint.variants import Variant
from scones.errors import EndpointError
from scones.model.artifact import Artifact, Preprocessing
from scones.storage import Store
from tests.endpoint.traffic import Traffic
from tests.helpers import flipped_artifact, png_bytes, tiny_artifact, write_model

NAME = "shadow-test"


def captured(settings: Settings, variant: str) -> dict[str, int]:
    """inferenceId -> winning class, read straight from the capture files of `variant`."""
    store, answers = Store(settings), {}
    for info in store.list(settings.bucket, f"data_capture/{NAME}/{variant}/"):
        for line in store.get(settings.bucket, info.key).splitlines():
            record = json.loads(line)
            p = json.loads(record["captureData"]["endpointOutput"]["data"])
            answers[record["eventMetadata"]["inferenceId"]] = int(p[1] > p[0])
    return answers


def wait_for_metric(url: str, line: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while line not in httpx.get(f"{url}/metrics").text:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_shadow_gets_every_request_and_the_report_matches_the_captures(
    settings: Settings, tmp_path: Path, model_file: Path
) -> None:
    flipped = str(write_model(tmp_path / "flipped.tar.gz", flipped_artifact()))
    wanted = [
        Variant("Blue", str(model_file), 1.0),  # red -> bicycle
        Variant("Green", flipped, 1.0),  # red -> motorcycle
        Variant("Candidate", str(model_file), 1.0, shadow=True),  # agrees with Blue, never with Green
    ]
    config = endpoint_config(settings, name=NAME, port=0, workers=2, capture_percent=100)
    record = registry.deploy(settings, config, None, timeout=60, production_variants=wanted)
    try:
        traffic = Traffic(record.url, clients=8, total=400)
        with traffic:
            traffic.join()
        assert traffic.failures == [] and len(traffic.answers) == 400
        assert {a.variant for a in traffic.answers} == {"Blue", "Green"}  # the shadow never answers a caller
        # the shadow answers off the request path, so its count can trail the callers' answers
        assert wait_for_metric(record.url, 'route="shadow",status="200",variant="Candidate"')
        deadline = time.monotonic() + 30  # capture files roll every 5 s
        while time.monotonic() < deadline:
            shadow = captured(settings, "Candidate")
            production = {**captured(settings, "Blue"), **captured(settings, "Green")}
            if len(shadow) == len(production) == 400:
                break
            time.sleep(0.5)
        assert len(shadow) == 400 and len(production) == 400  # a copy of every request, paired by inferenceId
        report = shadow_report(settings, NAME)
    finally:
        registry.delete(settings, NAME)
    expected = sum(1 for i, label in shadow.items() if production[i] == label) / 400
    assert report.pairs == 400 and report.agreement_rate == expected
    green = sum(1 for a in traffic.answers if a.variant == "Green")
    assert report.flips == {"bicycle": {"bicycle": 400 - green}, "motorcycle": {"bicycle": green}}
    assert abs(report.confidence_shift or 0) < 1e-6  # same confidence, other class
    assert len(report.disagreements) == min(green, 50)
    assert {d["production_variant"] for d in report.disagreements} == {"Green"}
    assert all(s.latency_p50_ms is not None and s.latency_p99_ms is not None for s in report.sides)
    assert [s.variant for s in report.sides] == ["Blue+Green", "Candidate"]


def test_a_failing_shadow_never_fails_the_caller(settings: Settings, tmp_path: Path, model_file: Path) -> None:
    tiny = (
        tiny_artifact()
    )  # its manifest says 16x16 images, its graph wants 32x32: every run fails in ORT (424 ModelError)
    broken = Artifact(
        manifest=replace(tiny.manifest, preprocessing=Preprocessing(image_shape=(3, 16, 16))), onnx=tiny.onnx
    )
    wanted = [
        Variant("Blue", str(model_file)),
        Variant("Broken", str(write_model(tmp_path / "x.tar.gz", broken)), 1.0, shadow=True),
    ]
    config = endpoint_config(settings, name=NAME, port=0, workers=1)
    record = registry.deploy(settings, config, None, timeout=60, production_variants=wanted)
    try:
        traffic = Traffic(record.url, clients=8, total=200)
        with traffic:
            traffic.join()
        assert traffic.failures == [] and Counter(a.label for a in traffic.answers) == {0: 200}
        failed = 'scones_endpoint_requests_total{route="shadow",status="424",variant="Broken"} 200.0'
        assert wait_for_metric(record.url, failed)  # the copies finish after the callers had their answers
    finally:
        registry.delete(settings, NAME)


def test_shadow_share_and_refusals(settings: Settings, model_file: Path) -> None:
    wanted = [Variant("Blue", str(model_file)), Variant("Half", str(model_file), 0.5, shadow=True)]
    record = registry.deploy(settings, endpoint_config(settings, name=NAME, port=0), None, production_variants=wanted)
    try:
        with httpx.Client(base_url=record.url, timeout=30) as client:
            for _ in range(10):
                assert (
                    client.post("/invocations", content=png_bytes(), headers={"content-type": "image/png"}).status_code
                    == 200
                )
            pinned = client.post(
                "/invocations",
                content=png_bytes(),
                headers={"content-type": "image/png", "x-amzn-sagemaker-target-variant": "Half"},
            )
            assert pinned.status_code == 400 and "not a production variant" in pinned.json()["message"]
        half = 'scones_endpoint_requests_total{route="shadow",status="200",variant="Half"} 5.0'
        assert wait_for_metric(record.url, half)  # exactly every other request
    finally:
        registry.delete(settings, NAME)
    registry.deploy(settings, endpoint_config(settings, name=NAME, port=0), str(model_file))
    try:
        with pytest.raises(EndpointError, match="no shadow variant"):
            shadow_report(settings, NAME)
    finally:
        registry.delete(settings, NAME)  # no server outlives its test
