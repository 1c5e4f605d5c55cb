"""Production variants on a real endpoint process, under 8 concurrent clients over HTTP."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.server import endpoint_config
from scones.endpoint.variants import Variant
from scones.errors import ConfigError
from scones.storage import Store
from tests.endpoint.traffic import Traffic
from tests.helpers import flipped_artifact, png_bytes, write_model

NAME = "variants-test"
PNG = {"content-type": "image/png"}


@pytest.fixture
def two_models(tmp_path: Path, model_file: Path) -> tuple[str, str]:
    """Blue's model says bicycle for red, Green's (flipped) says motorcycle: an answer shows who gave it."""
    return str(model_file), str(write_model(tmp_path / "flipped.tar.gz", flipped_artifact()))


def deploy_two(settings: Settings, blue: str, green: str, workers: int = 2, capture: float = 100) -> str:
    config = endpoint_config(settings, name=NAME, port=0, workers=workers, capture_percent=capture)
    wanted = [Variant("Blue", blue, 0.7), Variant("Green", green, 0.3)]
    return registry.deploy(settings, config, None, timeout=60, production_variants=wanted).url


def test_weights_split_2000_requests_within_3_points(settings: Settings, two_models: tuple[str, str]) -> None:
    url = deploy_two(settings, *two_models)
    try:
        traffic = Traffic(url, clients=8, total=2000)
        with traffic:
            traffic.join()
        assert traffic.failures == [] and len(traffic.answers) == 2000
        counts = Counter(a.variant for a in traffic.answers)
        assert abs(counts["Blue"] / 2000 - 0.7) <= 0.03, counts
        assert {a.label for a in traffic.answers if a.variant == "Blue"} == {0}  # each variant runs its own model
        assert {a.label for a in traffic.answers if a.variant == "Green"} == {1}
        described = registry.describe(settings, NAME)
        assert [(v["name"], v["weight"]) for v in described.config["variants"]] == [("Blue", 0.7), ("Green", 0.3)]
    finally:
        registry.delete(settings, NAME)  # flushes capture
    # every answer was captured under its own variant's name: {endpoint}/{variant}/yyyy/mm/dd/hh/
    records = Counter[str]()
    for info in Store(settings).list(settings.bucket, f"data_capture/{NAME}/"):
        variant = info.key.split("/")[2]
        lines = Store(settings).get(settings.bucket, info.key).decode().splitlines()
        records[variant] += len(lines)
        assert len(info.key.split("/")) == 8  # data_capture/endpoint/variant/yyyy/mm/dd/hh/file
    assert records == counts


def test_target_variant_pins_and_metrics_are_per_variant(settings: Settings, two_models: tuple[str, str]) -> None:
    url = deploy_two(settings, *two_models, workers=1, capture=0)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(5):
                pinned = client.post(
                    "/invocations", content=png_bytes(), headers={**PNG, "x-amzn-sagemaker-target-variant": "Green"}
                )
                assert pinned.headers["x-amzn-invoked-production-variant"] == "Green" and pinned.json()[1] > 0.99
            unknown = client.post(
                "/invocations", content=png_bytes(), headers={**PNG, "x-amzn-sagemaker-target-variant": "Red"}
            )
            assert unknown.status_code == 400 and unknown.headers["x-amzn-errortype"] == "ValidationError"
            assert "Blue, Green" in unknown.json()["message"]
            text = client.get("/metrics").text
        assert 'scones_endpoint_requests_total{route="invocations",status="200",variant="Green"} 5.0' in text
        assert 'variant="Blue"' in text  # Blue reports too (its model info), with no Green request counted in it
        assert 'scones_endpoint_requests_total{route="invocations",status="200",variant="Blue"}' not in text
    finally:
        registry.delete(settings, NAME)


def test_boto3_target_variant(settings: Settings, two_models: tuple[str, str]) -> None:
    import boto3

    url = deploy_two(settings, *two_models, workers=1, capture=0)
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1")
        reply = runtime.invoke_endpoint(
            EndpointName=NAME, ContentType="image/png", Body=png_bytes(), TargetVariant="Green"
        )
        assert reply["InvokedProductionVariant"] == "Green" and json.loads(reply["Body"].read())[1] > 0.99
    finally:
        registry.delete(settings, NAME)


def test_update_weights_live_fails_no_request(settings: Settings, two_models: tuple[str, str]) -> None:
    url = deploy_two(settings, *two_models, capture=0)
    try:
        with Traffic(url, clients=8) as traffic:
            traffic.wait_for(50)
            record = registry.update_weights(settings, NAME, {"Blue": 0.0, "Green": 1.0}, timeout=60)
            switched = time.monotonic()
            traffic.wait_for(40, after=switched)
            second = time.monotonic()
            back = registry.update_weights(settings, NAME, {"Blue": 1.0}, timeout=60)  # Green keeps its weight 1
            even = time.monotonic()
            traffic.wait_for(200, after=even)
        assert traffic.failures == []
        assert [v["weight"] for v in record.config["variants"]] == [0.0, 1.0]
        assert {a.variant for a in traffic.since(switched) if a.sent < second} == {"Green"}
        after = Counter(a.variant for a in traffic.since(even))
        assert abs(after["Blue"] - after["Green"]) <= 0.1 * sum(after.values())
        assert [v["weight"] for v in back.config["variants"]] == [1.0, 1.0]
    finally:
        registry.delete(settings, NAME)


def test_update_weights_refuses_bad_input(settings: Settings, two_models: tuple[str, str]) -> None:
    deploy_two(settings, *two_models, workers=1, capture=0)
    try:
        with pytest.raises(ConfigError, match="has no variant Purple; its variants are Blue, Green"):
            registry.update_weights(settings, NAME, {"Purple": 1.0})
        with pytest.raises(ConfigError, match="weight 0"):
            registry.update_weights(settings, NAME, {"Blue": 0.0, "Green": 0.0})
        assert [v["weight"] for v in registry.describe(settings, NAME).config["variants"]] == [0.7, 0.3]  # unchanged
    finally:
        registry.delete(settings, NAME)


def test_deploy_refuses_model_and_variants_together(settings: Settings, two_models: tuple[str, str]) -> None:
    config = endpoint_config(settings, name=NAME, port=0)
    with pytest.raises(ConfigError, match="not both"):
        registry.deploy(settings, config, two_models[0], production_variants=[Variant("Blue", two_models[1])])


def test_cli_deploy_variants_and_update_weights(settings: Settings, two_models: tuple[str, str]) -> None:
    from typer.testing import CliRunner

    from scones.cli import app

    home = ["--home", str(settings.home)]
    blue, green = two_models
    runner = CliRunner()
    deployed = runner.invoke(
        app, [*home, "deploy", "--name", NAME, "--variant", f"Blue={blue}:3", "--variant", f"Green={green}:1"]
    )
    try:
        assert deployed.exit_code == 0, deployed.output
        assert (
            "Blue: weight 3.0 (75% of traffic)" in deployed.stdout
            and "Green: weight 1.0 (25% of traffic)" in deployed.stdout
        )
        moved = runner.invoke(app, [*home, "update-endpoint-weights", NAME, "Green=3"])
        assert moved.exit_code == 0 and "Green: weight 3.0 (50% of traffic)" in moved.stdout
        bad = runner.invoke(app, [*home, "update-endpoint-weights", NAME, "Green"])
        assert bad.exit_code == 1 and "is not NAME=WEIGHT" in bad.stderr
    finally:
        registry.delete(settings, NAME)
    nothing = runner.invoke(app, [*home, "deploy", "--name", NAME])
    assert nothing.exit_code == 1 and "Nothing to deploy" in nothing.stderr
    unparsable = runner.invoke(app, [*home, "deploy", "--name", NAME, "--variant", blue])
    assert unparsable.exit_code == 1 and "is not NAME=MODEL[:WEIGHT]" in unparsable.stderr
