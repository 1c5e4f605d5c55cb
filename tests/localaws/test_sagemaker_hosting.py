"""SageMaker models, endpoint configs, endpoints and InvokeEndpoint through boto3, served by scones endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scones.config import Settings
from scones.endpoint import deployments, registry
from scones.endpoint.guardrails import Triggers
from scones.localaws.sagemaker_rollout import strategy_of
from tests.helpers import flipped_artifact, png_bytes, tiny_artifact
from tests.localaws.sagemaker_helpers import IMAGE, ROLE

FAST = {"Delay": 1, "MaxAttempts": 60}
RED = png_bytes((200, 30, 30))  # the tiny model says bicycle, the flipped one motorcycle


@pytest.fixture
def sm(client: Any, s3: Any, settings: Settings) -> Iterator[Any]:
    """A SageMaker client with two models in the store (tiny, flipped); every endpoint is deleted afterwards."""
    s3.create_bucket(Bucket="seed-bucket")
    s3.put_object(Bucket="seed-bucket", Key="models/tiny/model.tar.gz", Body=tiny_artifact().pack())
    s3.put_object(Bucket="seed-bucket", Key="models/flipped/model.tar.gz", Body=flipped_artifact().pack())
    sagemaker = client("sagemaker")
    for name in ("tiny", "flipped"):
        sagemaker.create_model(
            ModelName=name,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://seed-bucket/models/{name}/model.tar.gz"},
            ExecutionRoleArn=ROLE,
        )
    yield sagemaker
    for record in registry.list_endpoints(settings):  # no endpoint process outlives its test
        registry.delete(settings, record.name)


def _config(sm: Any, name: str, variants: list[tuple[str, str, float]], **extra: Any) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": v,
                "ModelName": m,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": w,
            }
            for v, m, w in variants
        ],
        **extra,
    )


def _endpoint(sm: Any, name: str, config: str) -> dict[str, Any]:
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    return sm.describe_endpoint(EndpointName=name)


def _label(answer: dict[str, Any]) -> int:
    probabilities = json.loads(answer["Body"].read())
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def test_endpoint_serves_variants_and_captures_as_scones_deploy_does(
    sm: Any, client: Any, s3: Any, settings: Settings
) -> None:
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://seed-bucket/data_capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    _config(
        sm,
        "two-variants",
        [("Blue", "tiny", 0.7), ("Green", "flipped", 0.3)],
        ShadowProductionVariants=[
            {
                "VariantName": "Shadow",
                "ModelName": "flipped",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig=capture,
    )
    described = _endpoint(sm, "seed-endpoint", "two-variants")
    assert described["EndpointStatus"] == "InService"
    assert [(v["VariantName"], v["CurrentWeight"]) for v in described["ProductionVariants"]] == [
        ("Blue", 0.7),
        ("Green", 0.3),
    ]
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["Shadow"]
    assert described["DataCaptureConfig"]["CurrentSamplingPercentage"] == 100
    listed = subprocess.run(
        [sys.executable, "-m", "scones.cli", "endpoints", "--json"], capture_output=True, text=True, check=True
    )
    (row,) = json.loads(listed.stdout)  # one state: `scones endpoints` has it, with capture
    assert row["name"] == "seed-endpoint" and row["status"] == "InService"
    assert row["config"]["capture_percent"] == 100
    assert row["config"]["capture_destination"] == "s3://seed-bucket/data_capture"

    runtime = client("sagemaker-runtime")
    for variant, label in (("Blue", 0), ("Green", 1)):
        answer = runtime.invoke_endpoint(
            EndpointName="seed-endpoint",
            Body=RED,
            ContentType="image/png",
            TargetVariant=variant,
            InferenceId=f"id-{variant}",
        )
        assert answer["InvokedProductionVariant"] == variant
        assert answer["ContentType"] == "application/json"
        assert _label(answer) == label
    sm.delete_endpoint(EndpointName="seed-endpoint")  # stops the process: capture is flushed
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="seed-bucket", Prefix="data_capture/")["Contents"]]
    assert {k.split("/")[2] for k in keys} >= {"Blue", "Green"}
    green = next(k for k in keys if k.split("/")[2] == "Green")
    record = json.loads(s3.get_object(Bucket="seed-bucket", Key=green)["Body"].read().splitlines()[0])
    assert record["eventMetadata"]["inferenceId"] == "id-Green"
    with pytest.raises(ClientError) as exc:
        sm.describe_endpoint(EndpointName="seed-endpoint")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert 'Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/seed-endpoint"' in str(exc.value)


def test_update_endpoint_and_weights_live(sm: Any, client: Any) -> None:
    _config(sm, "one", [("AllTraffic", "tiny", 1.0)])
    _config(sm, "flipped-config", [("AllTraffic", "flipped", 1.0)])
    _endpoint(sm, "live", "one")
    runtime = client("sagemaker-runtime")
    assert _label(runtime.invoke_endpoint(EndpointName="live", Body=RED, ContentType="image/png")) == 0
    sm.update_endpoint(EndpointName="live", EndpointConfigName="flipped-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="live", WaiterConfig=FAST)
    assert sm.describe_endpoint(EndpointName="live")["EndpointConfigName"] == "flipped-config"
    assert _label(runtime.invoke_endpoint(EndpointName="live", Body=RED, ContentType="image/png")) == 1

    _config(sm, "pair", [("Blue", "tiny", 1.0), ("Green", "flipped", 1.0)])
    sm.update_endpoint(EndpointName="live", EndpointConfigName="pair")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="live", WaiterConfig=FAST)
    sm.update_endpoint_weights_and_capacities(
        EndpointName="live", DesiredWeightsAndCapacities=[{"VariantName": "Blue", "DesiredWeight": 0.0}]
    )
    weights = {
        v["VariantName"]: v["CurrentWeight"] for v in sm.describe_endpoint(EndpointName="live")["ProductionVariants"]
    }
    assert weights == {"Blue": 0.0, "Green": 1.0}
    served = {
        runtime.invoke_endpoint(EndpointName="live", Body=RED, ContentType="image/png")["InvokedProductionVariant"]
        for _ in range(10)
    }
    assert served == {"Green"}
    with pytest.raises(ClientError, match="has no variant Red"):
        sm.update_endpoint_weights_and_capacities(
            EndpointName="live", DesiredWeightsAndCapacities=[{"VariantName": "Red", "DesiredWeight": 1.0}]
        )


def test_blue_green_update_with_canary_is_a_scones_deployment(sm: Any, client: Any, settings: Settings) -> None:
    _config(sm, "blue", [("AllTraffic", "tiny", 1.0)])
    _config(sm, "green", [("AllTraffic", "flipped", 1.0)])
    _endpoint(sm, "canary-ep", "blue")
    config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 1,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            },
            "TerminationWaitInSeconds": 1,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "error-rate"}]},
    }
    sm.update_endpoint(EndpointName="canary-ep", EndpointConfigName="green", DeploymentConfig=config)
    assert sm.describe_endpoint(EndpointName="canary-ep")["EndpointStatus"] == "Updating"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="canary-ep", WaiterConfig=FAST)
    (deployment,) = deployments.history(settings, "canary-ep")  # what `scones deployments canary-ep` lists
    assert deployment.status == "Completed" and deployment.strategy == "canary"
    assert [p["phase"] for p in deployment.phases] == ["Started", "Canary", "Baking", "Completed"]
    assert deployment.phases[1]["candidate_percent"] == 20
    assert sm.describe_endpoint(EndpointName="canary-ep")["EndpointConfigName"] == "green"
    runtime = client("sagemaker-runtime")
    assert _label(runtime.invoke_endpoint(EndpointName="canary-ep", Body=RED, ContentType="image/png")) == 1


def test_linear_blue_green_update_runs_to_completion_without_a_failed_request(
    sm: Any, client: Any, settings: Settings
) -> None:
    _config(sm, "blue", [("AllTraffic", "tiny", 1.0)])
    _config(sm, "green", [("AllTraffic", "flipped", 1.0)])
    _endpoint(sm, "linear-ep", "blue")
    runtime = client("sagemaker-runtime")
    labels: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def invoke_all_along() -> None:  # a client invoking through the whole deployment
        while not stop.is_set():
            try:
                labels.append(
                    _label(runtime.invoke_endpoint(EndpointName="linear-ep", Body=RED, ContentType="image/png"))
                )
            except ClientError as exc:
                failures.append(str(exc))

    caller = threading.Thread(target=invoke_all_along)
    caller.start()
    try:
        config = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "LINEAR",
                    "WaitIntervalInSeconds": 1,
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                },
                "TerminationWaitInSeconds": 1,
            }
        }
        sm.update_endpoint(EndpointName="linear-ep", EndpointConfigName="green", DeploymentConfig=config)
        statuses = [sm.describe_endpoint(EndpointName="linear-ep")["EndpointStatus"]]
        deadline = time.monotonic() + 90
        while statuses[-1] == "Updating":
            assert time.monotonic() < deadline
            time.sleep(0.2)
            statuses.append(sm.describe_endpoint(EndpointName="linear-ep")["EndpointStatus"])
    finally:
        stop.set()
        caller.join(30)
    assert statuses[0] == "Updating" and statuses[-1] == "InService"
    (deployment,) = deployments.history(settings, "linear-ep")
    assert sm.describe_endpoint(EndpointName="linear-ep")["EndpointConfigName"] == "green", deployment.phases
    assert deployment.status == "Completed" and deployment.strategy == "linear"
    shifting = [p for p in deployment.phases if p["phase"] == "Shifting"]
    assert [p["candidate_percent"] for p in shifting] == [50]
    assert [p["phase"] for p in deployment.phases][-2:] == ["Baking", "Completed"]
    assert failures == [] and len(labels) > 10
    assert labels[0] == 0 and labels[-1] == 1  # the old model before, the new one after
    assert _label(runtime.invoke_endpoint(EndpointName="linear-ep", Body=RED, ContentType="image/png")) == 1


@pytest.mark.parametrize(
    ("routing", "alarms", "message"),
    [
        ({"Type": "SLOW"}, [], "use ALL_AT_ONCE, CANARY or LINEAR"),
        ({"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}, [], "only CAPACITY_PERCENT"),
        (
            {"Type": "ALL_AT_ONCE"},
            [{"AlarmName": "MyCloudWatchAlarm"}],
            "one of error_rate, p99_latency, low_confidence, disagreement",
        ),
    ],
)
def test_deployment_config_refusals(sm: Any, routing: dict[str, Any], alarms: list[Any], message: str) -> None:
    _config(sm, "blue", [("AllTraffic", "tiny", 1.0)])
    _config(sm, "green", [("AllTraffic", "flipped", 1.0)])
    _endpoint(sm, "refusing", "blue")
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {**routing, "WaitIntervalInSeconds": 1}}
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": alarms}
    with pytest.raises(ClientError) as exc:
        sm.update_endpoint(EndpointName="refusing", EndpointConfigName="green", DeploymentConfig=config)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert message in exc.value.response["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName="refusing")["EndpointStatus"] == "InService"


def test_lists_page_and_deletes(sm: Any) -> None:
    for i in range(3):
        _config(sm, f"config-{i}", [("AllTraffic", "tiny", 1.0)])
        time.sleep(0.01)  # distinct creation times: the order is defined
    pages = list(sm.get_paginator("list_endpoint_configs").paginate(PaginationConfig={"PageSize": 2}))
    assert [[c["EndpointConfigName"] for c in p["EndpointConfigs"]] for p in pages] == [
        ["config-2", "config-1"],
        ["config-0"],
    ]
    models = [
        m["ModelName"]
        for p in sm.get_paginator("list_models").paginate(SortBy="Name", SortOrder="Ascending")
        for m in p["Models"]
    ]
    assert models == ["flipped", "tiny"]
    assert sm.describe_model(ModelName="tiny")["PrimaryContainer"]["Image"] == IMAGE
    sm.delete_endpoint_config(EndpointConfigName="config-0")
    sm.delete_model(ModelName="flipped")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["tiny"]
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.describe_endpoint_config(EndpointConfigName="config-0")
    assert list(sm.get_paginator("list_endpoints").paginate())[0]["Endpoints"] == []


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (
            lambda sm: sm.describe_model(ModelName="nope"),
            "ValidationException",
            'Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/nope".',
        ),
        (
            lambda sm: sm.create_model(
                ModelName="x",
                PrimaryContainer={
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                    "ModelDataUrl": "s3://seed-bucket/models/tiny/model.tar.gz",
                },
                ExecutionRoleArn=ROLE,
            ),
            "ValidationException",
            "only the image-classification algorithm's image serves locally",
        ),
        (
            lambda sm: sm.create_model(
                ModelName="x",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://seed-bucket/none.tar.gz"},
                ExecutionRoleArn=ROLE,
            ),
            "ValidationException",
            "Could not find model data at s3://seed-bucket/none.tar.gz.",
        ),
        (
            lambda sm: sm.create_model(
                ModelName="tiny",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://seed-bucket/models/tiny/model.tar.gz"},
                ExecutionRoleArn=ROLE,
            ),
            "ValidationException",
            "Cannot create already existing model",
        ),
        (
            lambda sm: sm.create_endpoint_config(
                EndpointConfigName="c", ProductionVariants=[{"VariantName": "A", "ModelName": "nope"}]
            ),
            "ValidationException",
            "Could not find model",
        ),
        (
            lambda sm: sm.create_endpoint_config(
                EndpointConfigName="c",
                ProductionVariants=[{"VariantName": "A", "ModelName": "tiny", "InitialVariantWeight": 0.0}],
            ),
            "ValidationException",
            "Every variant has weight 0",
        ),
        (
            lambda sm: sm.create_endpoint_config(
                EndpointConfigName="c",
                ProductionVariants=[{"VariantName": "A", "ModelName": "tiny"}],
                DataCaptureConfig={
                    "EnableCapture": True,
                    "InitialSamplingPercentage": 100,
                    "DestinationS3Uri": "/tmp/capture",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                },
            ),
            "ValidationException",
            "is not an s3:// URI",
        ),
        (
            lambda sm: sm.create_endpoint(EndpointName="e", EndpointConfigName="nope"),
            "ValidationException",
            "Could not find endpoint configuration",
        ),
        (lambda sm: sm.delete_endpoint(EndpointName="nope"), "ValidationException", "Could not find endpoint"),
    ],
)
def test_errors_in_sagemakers_shape(sm: Any, call: Any, code: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        call(sm)
    assert exc.value.response["Error"]["Code"] == code
    assert message in exc.value.response["Error"]["Message"]


def test_invoke_unknown_endpoint(client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        client("sagemaker-runtime").invoke_endpoint(EndpointName="nope", Body=RED, ContentType="image/png")
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Endpoint nope of account 000000000000 not found.",
    }


def test_model_error_is_aws_model_error(sm: Any, client: Any) -> None:
    _config(sm, "one", [("AllTraffic", "tiny", 1.0)])
    _endpoint(sm, "strict", "one")
    with pytest.raises(ClientError) as exc:
        client("sagemaker-runtime").invoke_endpoint(
            EndpointName="strict", Body=b"not an image", ContentType="image/png"
        )
    assert exc.value.response["Error"]["Code"] == "ModelError"
    assert "Received client error (4" in exc.value.response["Error"]["Message"]


def test_endpoint_log_is_in_cloudwatch_logs(sm: Any, client: Any, settings: Settings) -> None:
    _config(sm, "one", [("AllTraffic", "tiny", 1.0)])
    _endpoint(sm, "logged", "one")
    logs, group = client("logs"), "/aws/sagemaker/Endpoints/logged"
    (listed,) = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]  # before any read
    assert listed["logGroupName"] == group and listed["storedBytes"] > 0
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"] == "AllTraffic/logged"
    events = logs.get_log_events(logGroupName=group, logStreamName="AllTraffic/logged", startFromHead=True)["events"]
    written = (settings.logs_dir / "endpoint-logged.log").read_text().splitlines()
    assert [e["message"] for e in events] == written[: len(events)] and events
    again = logs.get_log_events(logGroupName=group, logStreamName="AllTraffic/logged", startFromHead=True)["events"]
    assert [e["message"] for e in again] == written[: len(again)]  # a second look repeats nothing


def test_an_alarm_names_the_local_trigger_that_rolls_back(sm: Any, client: Any, s3: Any, settings: Settings) -> None:
    """AutoRollbackConfiguration alarm `low-confidence` arms that trigger: an unsure candidate is rolled back."""
    import threading

    from tests.endpoint.test_deployments import model

    unsure = model(settings.home.parent / "unsure.tar.gz", 0.1)  # top probability ~0.57 on every image
    s3.put_object(Bucket="seed-bucket", Key="models/unsure/model.tar.gz", Body=Path(unsure).read_bytes())
    sm.create_model(
        ModelName="unsure",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://seed-bucket/models/unsure/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    _config(sm, "blue", [("AllTraffic", "tiny", 1.0)])
    _config(sm, "candidate", [("AllTraffic", "unsure", 1.0)])
    _endpoint(sm, "guarded", "blue")
    runtime, failures, stop = client("sagemaker-runtime"), [], threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(EndpointName="guarded", Body=RED, ContentType="image/png")
            except ClientError as exc:
                failures.append(exc)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        routing = {
            "Type": "CANARY",
            "WaitIntervalInSeconds": 8,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        }
        sm.update_endpoint(
            EndpointName="guarded",
            EndpointConfigName="candidate",
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 1},
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "low-confidence"}]},
            },
        )
        sm.get_waiter("endpoint_in_service").wait(EndpointName="guarded", WaiterConfig=FAST)
    finally:
        stop.set()
        sender.join()
    (deployment,) = deployments.history(settings, "guarded")
    assert deployment.status == "RolledBack" and deployment.phases[-1]["trigger"] == "low_confidence"
    assert failures == []
    assert sm.describe_endpoint(EndpointName="guarded")["EndpointConfigName"] == "blue"


def test_an_endpoint_deleted_by_the_cli_is_gone_from_the_api(sm: Any, settings: Settings) -> None:
    _config(sm, "one", [("AllTraffic", "tiny", 1.0)])
    _endpoint(sm, "short-lived", "one")
    subprocess.run(
        [sys.executable, "-m", "scones.cli", "delete-endpoint", "short-lived"], check=True, capture_output=True
    )
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName="short-lived")
    assert sm.list_endpoints()["Endpoints"] == []


@pytest.mark.parametrize(("alarms", "share"), [([], 0.0), ([{"AlarmName": "Disagreement"}], Triggers.compare_share)])
def test_disagreement_is_armed_only_by_its_alarm(alarms: list[dict[str, str]], share: float) -> None:
    """No alarm, no rollback (as on AWS): without a `disagreement` alarm nothing is mirrored to the old model."""
    routing = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}
    config = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}}
    _, triggers = strategy_of({**config, "AutoRollbackConfiguration": {"Alarms": alarms}})
    assert triggers.compare_share == share


def test_the_alarms_scones_aws_deploy_writes_arm_the_triggers_they_stand_for() -> None:
    """`<endpoint>-<variant>-5xx-errors` arms error_rate, `...-p99-model-latency` p99_latency; nothing else is armed."""
    import math

    routing = {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
    alarms = [{"AlarmName": "ep-Blue-5xx-errors"}, {"AlarmName": "ep-Blue-p99-model-latency"}]
    config = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}}
    _, triggers = strategy_of({**config, "AutoRollbackConfiguration": {"Alarms": alarms}})
    assert triggers.max_error_rate_increase == Triggers.max_error_rate_increase
    assert triggers.max_p99_ratio == Triggers.max_p99_ratio
    assert math.isinf(triggers.max_low_confidence_increase) and triggers.compare_share == 0.0
    _, latency_only = strategy_of({**config, "AutoRollbackConfiguration": {"Alarms": alarms[1:]}})
    assert math.isinf(latency_only.max_error_rate_increase)
