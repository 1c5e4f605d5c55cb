"""`scones aws deploy` (the real boto3 code path over real HTTP) with SageMaker served by `scones up`.

moto has no UpdateEndpoint, so a DeploymentConfig never ran there. Here botocore's per-service
endpoint variables split the deployment: SageMaker, SageMaker Runtime and S3 go to a `scones up`
server (its CreateModel reads the model from its own S3, so the bucket lives there too), IAM,
STS, CloudWatch, Application Auto Scaling, Lambda and Step Functions to moto's server. What
deploy writes for AWS (production variants with weights, a shadow, a blue/green DeploymentConfig
whose alarms scones up maps to its local triggers) then really serves, shifts and rolls back.

`scones up`'s S3 has no PutBucketTagging, which deploy calls on a bucket it creates, so each test
creates the bucket first (deploy's "existing bucket" path, which it supports).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from scones.aws import AwsOptions, deploy, destroy, rollout
from scones.aws.errors import AwsError
from scones.config import Settings
from scones.endpoint import deployments, registry
from scones.endpoint.variants import parse, parse_shadow
from scones.model.artifact import Artifact, Preprocessing, sha256
from scones.storage import Store
from tests.helpers import flipped_artifact, png_bytes, tiny_onnx, write_model
from tests.localaws.conftest import running
from tests.localaws.sagemaker_helpers import IMAGE

RED = png_bytes((200, 30, 30))  # the tiny model answers bicycle (0), the flipped one motorcycle (1)


@pytest.fixture
def split_aws(moto_server: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """SageMaker, its runtime and S3 at a `scones up` server; every other service at moto. Yields scones up's URL."""
    with running(settings) as up:
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
        for service in ("SAGEMAKER", "SAGEMAKER_RUNTIME", "S3"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", up)
        try:
            yield up
        finally:
            for record in registry.list_endpoints(settings):  # no endpoint process outlives its test
                registry.delete(settings, record.name)


@pytest.fixture
def up_options(options: AwsOptions) -> AwsOptions:
    """The image scones up serves; a canary of half the capacity for 2 s, then a 1 s bake."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=options.bucket)  # on scones up
    return replace(options, image=IMAGE, canary_percent=50, interval_seconds=2, bake_seconds=1)


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")


def _label(runtime: Any, endpoint: str, **target: str) -> tuple[int, str]:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=RED, ContentType="image/png", **target)
    probabilities = json.loads(answer["Body"].read())
    return max(range(len(probabilities)), key=probabilities.__getitem__), answer["InvokedProductionVariant"]


def test_variants_and_a_shadow_deployed_by_aws_deploy_serve_on_scones_up(
    split_aws: str, settings: Settings, staged: Store, model_file: Path, tmp_path: Path, up_options: AwsOptions
) -> None:
    flipped = str(write_model(tmp_path / "flipped.tar.gz", flipped_artifact()))
    specs = [parse(f"Blue={model_file}:3"), parse(f"Green={flipped}:1"), parse_shadow(f"Candidate={flipped}:50")]
    plan = deploy(up_options, settings, variants=specs).plan
    sm, runtime = _client("sagemaker"), _client("sagemaker-runtime")

    described = sm.describe_endpoint(EndpointName=plan.endpoint_name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == plan.endpoint_config_name
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    assert weights == {"Blue": 3.0, "Green": 1.0}
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["Candidate"]
    served = {v["name"]: v for v in registry.describe(settings, plan.endpoint_name).config["variants"]}
    assert served["Candidate"]["shadow"] and served["Candidate"]["weight"] == pytest.approx(0.5)  # 2.0 of 4 mirrored
    assert _label(runtime, plan.endpoint_name, TargetVariant="Blue") == (0, "Blue")
    assert _label(runtime, plan.endpoint_name, TargetVariant="Green") == (1, "Green")

    alarms = _client("cloudwatch").describe_alarms(AlarmNames=rollout.alarm_names(plan))["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(
        f"{plan.endpoint_name}-{v}-{s}" for v in ("Blue", "Green") for s in ("5xx-errors", "p99-model-latency")
    )
    targets = _client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    ours = sorted(t["ResourceId"] for t in targets["ScalableTargets"] if plan.endpoint_name in t["ResourceId"])
    assert ours == [f"endpoint/{plan.endpoint_name}/variant/{v}" for v in ("Blue", "Green")]

    destroy(plan.bucket, plan.region)
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName=plan.endpoint_name)
    assert registry.list_endpoints(settings) == []


@pytest.mark.slow  # three deploys and two blue/green deployments under traffic: 20-64 s on the shared 2 cores
def test_a_new_model_goes_through_scones_ups_canary_and_a_broken_one_rolls_back(
    split_aws: str, settings: Settings, staged: Store, model_file: Path, tmp_path: Path, up_options: AwsOptions
) -> None:
    """Second deploy: a good candidate completes the canary; third: a candidate failing every request is rolled
    back by the 5xx alarm (scones up's error_rate trigger), deploy says so, and the endpoint keeps the good model."""
    first = deploy(up_options, settings, str(model_file)).plan
    runtime = _client("sagemaker-runtime")
    labels: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def traffic() -> None:  # a client invoking through both deployments
        while not stop.is_set():
            try:
                labels.append(_label(runtime, first.endpoint_name)[0])
            except ClientError as exc:
                failures.append(str(exc))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        flipped = str(write_model(tmp_path / "flipped.tar.gz", flipped_artifact()))
        try:
            second = deploy(up_options, settings, flipped).plan
        except AwsError as exc:  # say which trigger fired on a good candidate, with its figures
            (last, *_) = deployments.history(settings, first.endpoint_name)
            pytest.fail(f"{exc}: {last.phases[-1]}")
        assert second.endpoint_config_name != first.endpoint_config_name
        completed, failed_in_canary = len(labels), list(failures)
        broken = write_model(tmp_path / "broken.tar.gz", _broken())
        with pytest.raises(AwsError, match=f"rolled the update to {first.endpoint_name}-[0-9a-f]{{8}} back"):
            deploy(up_options, settings, str(broken))
        after_rollback = len(failures)
        while len(labels) < completed + 40:  # still serving, from the good model
            stop.wait(0.05)
    finally:
        stop.set()
        sender.join(30)
    bad, good = deployments.history(settings, first.endpoint_name)  # newest first
    assert good.status == "Completed" and good.strategy == "canary"
    assert [p["phase"] for p in good.phases] == ["Started", "Canary", "Baking", "Completed"]
    assert good.phases[1]["candidate_percent"] == 50
    assert bad.status == "RolledBack" and bad.phases[-1]["trigger"] == "error_rate"
    described = _client("sagemaker").describe_endpoint(EndpointName=first.endpoint_name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == second.endpoint_config_name
    assert labels[0] == 0 and labels[-1] == 1  # the first model before, the second after both deployments
    assert failed_in_canary == [] and completed > 20  # the good candidate's canary: 0 failed requests
    assert len(failures) == after_rollback  # the broken candidate's own answers failed; nothing once it was out
    destroy(first.bucket, first.region)


def _broken() -> Artifact:
    """A model whose manifest says 16x16 inputs: its ONNX graph takes 32x32, so every request fails."""
    onnx = tiny_onnx(sharpness=-7.0)  # other bytes than the flipped model's: another model id
    preprocessing = Preprocessing(image_shape=(3, 16, 16), mean=(0.5,) * 3, std=(0.5,) * 3)
    manifest = replace(flipped_artifact().manifest, preprocessing=preprocessing, model_sha256=sha256(onnx))
    return Artifact(manifest=manifest, onnx=onnx)
