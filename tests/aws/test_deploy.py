"""Deploy and destroy against moto's AWS over HTTP (AWS_ENDPOINT_URL), checking what exists."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from scones.aws import AwsOptions, deploy, destroy, rollout
from scones.aws.errors import AwsError
from scones.aws.package import build_zip
from scones.aws.plan import FUNCTIONS, TAG_KEY
from scones.aws.record import RECORD_KEY
from scones.config import Settings
from scones.storage import Store


def _client(name: str) -> Any:
    return boto3.client(name, region_name="us-east-1")  # AWS_ENDPOINT_URL points it at moto


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except _client("iam").exceptions.NoSuchEntityException:
        return False
    except Exception as exc:  # each service has its own not-found exception class
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in (
            "ResourceNotFoundException",
            "ValidationException",
            "StateMachineDoesNotExist",
            "404",
            "NoSuchBucket",
        ):
            return False
        raise


def test_dry_run_creates_nothing(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    result = deploy(options, settings, str(model_file), dry_run=True)
    kinds = [s.kind for s in result.steps]
    assert kinds.count("iam-role") == 5 and kinds.count("lambda-function") == 3
    assert "sagemaker-endpoint" in kinds and "state-machine" in kinds
    assert result.record is None
    assert not _exists(_client("s3").head_bucket, Bucket=options.bucket)
    assert not _exists(_client("iam").get_role, RoleName=result.plan.role_name("sagemaker"))
    assert not _exists(_client("sagemaker").describe_endpoint, EndpointName=options.endpoint_name)


def test_deploy_creates_configured_resources_and_destroy_removes_them(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    result = deploy(options, settings, str(model_file))
    plan = result.plan
    s3, iam, sm = _client("s3"), _client("iam"), _client("sagemaker")
    lam, sfn = _client("lambda"), _client("stepfunctions")

    # S3: staged data, model, record
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=plan.bucket)["Contents"]}
    assert {"data/manifest.json", "data/test/bicycle_s_000030.png", plan.model_key, RECORD_KEY} <= keys
    assert s3.get_object(Bucket=plan.bucket, Key=plan.model_key)["Body"].read() == model_file.read_bytes()

    # SageMaker: model, endpoint config with 100% data capture, endpoint
    model = sm.describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{plan.bucket}/{plan.model_key}"
    assert model["ExecutionRoleArn"] == plan.role_arn("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=plan.endpoint_config_name)
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == f"s3://{plan.bucket}/data_capture"
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert sm.describe_endpoint(EndpointName=plan.endpoint_name)["EndpointConfigName"] == plan.endpoint_config_name

    # Lambda: handler, role, environment, code = our zip
    for module in FUNCTIONS:
        fn = lam.get_function(FunctionName=plan.function_name(module))
        conf = fn["Configuration"]
        assert conf["Handler"] == f"scones.functions.{module}.handler"
        assert conf["Role"] == plan.role_arn(module)
        assert conf["Environment"]["Variables"] == plan.function_environment(module)
        assert fn["Tags"][TAG_KEY] == plan.tags[TAG_KEY]
    code = lam.get_function(FunctionName=plan.function_name("serialize_image_data"))["Configuration"]["CodeSha256"]
    assert code == base64.b64encode(hashlib.sha256(build_zip("serialize_image_data")).digest()).decode()
    classify_env = lam.get_function(FunctionName=plan.function_name("classify_image"))["Configuration"]["Environment"]
    assert classify_env["Variables"]["SCONES_ENDPOINT_NAME"] == plan.endpoint_name
    assert classify_env["Variables"]["SCONES_ENDPOINT_MODE"] == "sagemaker"

    # Step Functions: the pipeline with this deployment's real function ARNs
    machine = sfn.describe_state_machine(stateMachineArn=plan.state_machine_arn)
    assert machine["roleArn"] == plan.role_arn("states")
    definition = machine["definition"]
    for module in FUNCTIONS:
        assert plan.function_arn(module) in definition
    assert "REGION" not in definition and "ACCOUNT" not in definition

    # IAM: inline least-privilege policies
    policy = iam.get_role_policy(RoleName=plan.role_name("classify_image"), PolicyName="scones-least-privilege")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    invoke = [s for s in document["Statement"] if s["Action"] == ["sagemaker:InvokeEndpoint"]]
    assert invoke[0]["Resource"] == [plan.endpoint_arn]

    # CloudWatch: the two rollback alarms on this endpoint's variant (error_rate, p99_latency)
    cw, scaling = _client("cloudwatch"), _client("application-autoscaling")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=rollout.alarm_names(plan))["MetricAlarms"]}
    errors, latency = (alarms[n] for n in rollout.alarm_names(plan))
    assert errors["Namespace"] == latency["Namespace"] == "AWS/SageMaker"
    assert errors["MetricName"] == "Invocation5XXErrors" and errors["Statistic"] == "Sum"
    assert latency["MetricName"] == "ModelLatency" and latency["ExtendedStatistic"] == "p99"
    dimensions = [{"Name": "EndpointName", "Value": plan.endpoint_name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    assert errors["Dimensions"] == latency["Dimensions"] == dimensions

    # Application Auto Scaling: the variant's target and its target-tracking policy
    resource_id = f"endpoint/{plan.endpoint_name}/variant/AllTraffic"
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
    (target,) = targets["ScalableTargets"]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (options.instance_count, options.max_instances)
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource_id)[
        "ScalingPolicies"
    ]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == options.target_invocations_per_instance
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"

    removed = destroy(plan.bucket, plan.region)
    # roles, alarms, sagemaker, scaling target + policy, functions, state machine, bucket
    assert len(removed) == 5 + 2 + 3 + 2 + 3 + 1 + 1
    assert not cw.describe_alarms(AlarmNames=rollout.alarm_names(plan))["MetricAlarms"]
    assert not scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])[
        "ScalableTargets"
    ]
    assert not _exists(s3.head_bucket, Bucket=plan.bucket)
    assert not _exists(iam.get_role, RoleName=plan.role_name("states"))
    assert not _exists(sm.describe_endpoint, EndpointName=plan.endpoint_name)
    assert not _exists(sm.describe_model, ModelName=plan.model_name)
    assert not _exists(lam.get_function, FunctionName=plan.function_name("classify_image"))
    assert not _exists(sfn.describe_state_machine, stateMachineArn=plan.state_machine_arn)
    with pytest.raises(AwsError, match="nothing to destroy"):
        destroy(plan.bucket, plan.region)


@pytest.mark.slow
def test_redeploy_updates_in_place(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    """Running deploy again updates what the record holds (moto has no UpdateEndpoint, so the
    model stays the same here; a new model gets new model/config names and UpdateEndpoint)."""
    first = deploy(options, settings, str(model_file)).plan
    second = deploy(replace(options, threshold=0.8), settings, str(model_file)).plan
    assert second.model_name == first.model_name
    fn = _client("lambda").get_function(FunctionName=second.function_name("filter_inferences"))
    assert fn["Configuration"]["Environment"]["Variables"]["SCONES_THRESHOLD"] == "0.8"
    removed = destroy(options.bucket, options.region)
    assert len(removed) == 17  # recorded once each, however often deploy ran


@pytest.mark.slow
def test_existing_bucket_keeps_what_deploy_did_not_write(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    s3 = _client("s3")
    s3.create_bucket(Bucket=options.bucket)
    s3.put_object(Bucket=options.bucket, Key="theirs.txt", Body=b"keep me")
    deploy(options, settings, str(model_file))
    destroy(options.bucket, options.region)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=options.bucket).get("Contents", [])}
    assert keys == {"theirs.txt"}


def test_missing_default_image_fails_before_creating_anything(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    no_image = replace(options, image=None)
    with pytest.raises(AwsError, match="No serving image .*docker build"):
        deploy(no_image, settings, str(model_file))
    assert not _exists(_client("s3").head_bucket, Bucket=options.bucket)


def test_pushed_default_image_is_used(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    from scones import __version__

    no_image = replace(options, image=None)
    ecr = _client("ecr")
    ecr.create_repository(repositoryName=f"{options.name}-serve")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    ecr.put_image(repositoryName=f"{options.name}-serve", imageManifest=json.dumps(manifest), imageTag=__version__)
    plan = deploy(no_image, settings, str(model_file)).plan
    image = _client("sagemaker").describe_model(ModelName=plan.model_name)["PrimaryContainer"]["Image"]
    assert image == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{options.name}-serve:{__version__}"
    destroy(options.bucket, options.region)


def test_name_conflicts_are_refused_not_adopted(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    plan = deploy(options, settings, str(model_file), dry_run=True).plan
    _client("iam").create_role(RoleName=plan.role_name("sagemaker"), AssumeRolePolicyDocument="{}")
    with pytest.raises(AwsError, match="already exists and this deployment did not make it"):
        deploy(options, settings, str(model_file))
    destroy(options.bucket, options.region)  # what it made before the conflict goes
    assert _exists(_client("iam").get_role, RoleName=plan.role_name("sagemaker"))  # theirs stays
    assert not _exists(_client("s3").head_bucket, Bucket=options.bucket)


def test_no_staged_data_or_model_is_a_clear_error(
    aws_env: str, settings: Settings, model_file: Path, options: AwsOptions
) -> None:
    with pytest.raises(AwsError, match="run 'scones stage' first"):
        deploy(options, settings, str(model_file), dry_run=True)


def test_model_defaults_to_the_latest_training_job(
    aws_env: str, settings: Settings, staged: Store, options: AwsOptions
) -> None:
    from scones.model import jobs
    from scones.model.artifact import sha256
    from tests.helpers import tiny_artifact

    with pytest.raises(AwsError, match="No completed training job"):
        deploy(options, settings, None, dry_run=True)
    artifact = tiny_artifact()
    staged.put(settings.bucket, jobs.model_key("job-1"), artifact.pack())
    jobs.create(settings, "job-1", {}, {}, "checksum")
    jobs.finish(
        settings, "job-1", "Completed", duration_seconds=1.0, artifact_uri=jobs.default_artifact_uri(settings, "job-1")
    )
    latest = deploy(options, settings, None, dry_run=True).plan
    by_name = deploy(options, settings, "job-1", dry_run=True).plan
    assert latest.model_id == by_name.model_id == sha256(artifact.onnx)[:8]


def test_update_deployment_config_is_valid_for_sagemaker_and_names_the_created_alarms(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    """moto has no UpdateEndpoint, so the DeploymentConfig a new model's deploy sends is checked two ways
    instead: botocore validates it against SageMaker's own UpdateEndpoint input shape, and every alarm it
    names exists in (moto's) CloudWatch after the deploy."""
    from botocore.validate import validate_parameters

    from scones.aws.resources import update_deployment_config

    plan = deploy(replace(options, bake_seconds=120), settings, str(model_file)).plan
    shape = _client("sagemaker").meta.service_model.operation_model("UpdateEndpoint").input_shape
    params = {"EndpointName": plan.endpoint_name, "EndpointConfigName": plan.endpoint_config_name}
    for strategy, routing in (("canary", "CANARY"), ("linear", "LINEAR"), ("all-at-once", "ALL_AT_ONCE")):
        config = update_deployment_config(replace(plan, options=replace(plan.options, strategy=strategy)))
        validate_parameters({**params, "DeploymentConfig": config}, shape)  # raises ParamValidationError if malformed
        policy = config["BlueGreenUpdatePolicy"]
        assert policy["TrafficRoutingConfiguration"]["Type"] == routing
        assert policy["TerminationWaitInSeconds"] == 120
        named = [a["AlarmName"] for a in config["AutoRollbackConfiguration"]["Alarms"]]
        existing = _client("cloudwatch").describe_alarms(AlarmNames=named)["MetricAlarms"]
        assert sorted(a["AlarmName"] for a in existing) == sorted(named) and len(named) == 2
    destroy(options.bucket, options.region)


def test_an_alarm_deploy_did_not_make_is_refused_not_overwritten(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    plan = deploy(options, settings, str(model_file), dry_run=True).plan
    theirs = rollout.alarm_names(plan)[0]
    cw = _client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=theirs, Namespace="Theirs", MetricName="M", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    with pytest.raises(AwsError, match=f"cloudwatch-alarm {theirs} already exists"):
        deploy(options, settings, str(model_file))
    destroy(options.bucket, options.region)
    (kept,) = cw.describe_alarms(AlarmNames=[theirs])["MetricAlarms"]
    assert kept["Namespace"] == "Theirs"
    cw.delete_alarms(AlarmNames=[theirs])


def test_dry_run_lists_alarms_and_scaling(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions
) -> None:
    steps = deploy(replace(options, strategy="linear"), settings, str(model_file), dry_run=True).steps
    by_kind = {s.kind: s for s in steps}
    assert [s.name for s in steps if s.kind == "cloudwatch-alarm"] == [
        f"{options.endpoint_name}-AllTraffic-5xx-errors",
        f"{options.endpoint_name}-AllTraffic-p99-model-latency",
    ]
    assert "LINEAR" in by_kind["sagemaker-endpoint"].detail
    assert by_kind["scalable-target"].detail == f"{options.instance_count} to {options.max_instances} instances"
    assert "SageMakerVariantInvocationsPerInstance" in by_kind["scaling-policy"].detail
    assert by_kind["sagemaker-endpoint-config"].detail.startswith("AllTraffic (")


def test_dry_run_lists_each_variant_its_weight_and_the_shadow(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, tmp_path: Path, options: AwsOptions
) -> None:
    from scones.endpoint.variants import parse, parse_shadow
    from tests.helpers import flipped_artifact, write_model

    other = write_model(tmp_path / "other.tar.gz", flipped_artifact())
    specs = [parse(f"Blue={model_file}:0.9"), parse(f"Green={other}:0.1"), parse_shadow(f"Shade={other}:25")]
    result = deploy(options, settings, variants=specs, dry_run=True)
    plan, steps = result.plan, result.steps
    models = [s.name for s in steps if s.kind == "sagemaker-model"]
    assert models == [plan.model_name_of(v) for v in plan.production]  # the shadow shares Green's model
    (config,) = [s for s in steps if s.kind == "sagemaker-endpoint-config"]
    assert "Blue (" in config.detail and "weight 0.9" in config.detail and "weight 0.1" in config.detail
    assert "shadow Shade" in config.detail and "mirrors 25% of requests" in config.detail
    assert [s.name for s in steps if s.kind == "scalable-target"] == [
        f"endpoint/{options.endpoint_name}/variant/{v}" for v in ("Blue", "Green")
    ]
    assert len([s for s in steps if s.kind == "cloudwatch-alarm"]) == 4
    with pytest.raises(AwsError, match="Give --model .* or --variant"):
        deploy(options, settings, str(model_file), variants=specs, dry_run=True)


def test_rollout_policy_grants_exactly_the_alarm_and_scaling_calls_deploy_and_destroy_make(
    aws_env: str,
    settings: Settings,
    staged: Store,
    model_file: Path,
    options: AwsOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real clients talk to moto; a botocore before-call hook only notes which operations they call."""
    import importlib

    from scones.aws import session
    from scones.aws.policies import rollout_policy

    called: set[str] = set()
    prefixes = {"cloudwatch": "cloudwatch", "application-autoscaling": "application-autoscaling"}

    def observed(region: str) -> session.Clients:
        made = session.clients(region)
        for client in (made.cloudwatch, made.autoscaling):
            prefix = prefixes[client.meta.service_model.service_name]
            client.meta.events.register(
                "before-call", lambda model, prefix=prefix, **_: called.add(f"{prefix}:{model.name}")
            )
        return made

    for module in ("scones.aws.deploy", "scones.aws.destroy"):  # the package re-exports functions of these names
        monkeypatch.setattr(importlib.import_module(module), "clients", observed)
    plan = deploy(options, settings, str(model_file)).plan
    destroy(options.bucket, options.region)
    statements = {s["Sid"]: s for s in rollout_policy(plan)["Statement"]}
    granted = set(statements["RollbackAlarms"]["Action"]) | set(statements["TargetTracking"]["Action"])
    assert called == granted - {"cloudwatch:TagResource"}  # TagResource: PutMetricAlarm's Tags need it
    assert statements["RollbackAlarms"]["Resource"] == [
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" for name in rollout.alarm_names(plan)
    ]


def test_an_update_dropping_a_variant_deregisters_its_scaling_first_and_a_failed_one_restores_it(
    aws_env: str, settings: Settings, staged: Store, model_file: Path, options: AwsOptions, tmp_path: Path
) -> None:
    """SageMaker refuses an UpdateEndpoint that drops (or changes the instance type of) an auto scaled variant."""
    from scones.aws import resources
    from scones.aws.record import read
    from scones.aws.session import clients
    from scones.endpoint.variants import parse

    specs = [parse(f"Blue={model_file}:3"), parse(f"Green={model_file}:1")]
    first = deploy(options, settings, variants=specs).plan
    scaling = _client("application-autoscaling")

    def scaled() -> list[str]:
        targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        with_policy = {p["ResourceId"] for p in policies}
        return sorted(t["ResourceId"].rsplit("/", 1)[1] for t in targets if t["ResourceId"] in with_policy)

    assert scaled() == ["Blue", "Green"]
    aws, record = clients(options.region), read(_client("s3"), options.bucket)
    assert record is not None
    blue_only = deploy(options, settings, variants=specs[:1], dry_run=True).plan
    assert resources.retire_scaling(aws, blue_only, first.endpoint_config_name) == ["Green"]
    assert scaled() == ["Blue"]  # Blue stays as it is: same variant, same instance type
    resources.restore_scaling(aws, blue_only, record, ["Green"])  # what deploy does when the update fails
    assert scaled() == ["Blue", "Green"]
    bigger = deploy(replace(options, instance_type="ml.c5.xlarge"), settings, variants=specs, dry_run=True).plan
    assert resources.retire_scaling(aws, bigger, first.endpoint_config_name) == ["Blue", "Green"]
    assert scaled() == []
    assert resources.retire_scaling(aws, bigger, first.endpoint_config_name) == ["Blue", "Green"]  # already gone: fine
    destroy(options.bucket, options.region)  # the recorded targets were deregistered already: destroy still ends
