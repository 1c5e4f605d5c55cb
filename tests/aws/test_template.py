from __future__ import annotations

import json
import re

import pytest

from scones.aws import AwsOptions, build_plan, rollout, statemachine
from scones.aws.errors import AwsError
from scones.aws.template import template


def test_template_passes_cfn_lint_and_matches_the_plan() -> None:
    from cfnlint.api import lint

    plan = build_plan(AwsOptions(bucket="shop-bucket", region="eu-west-1"), "123456789012", "ef" * 32)
    definition = statemachine.with_arns(statemachine.load_definition(), plan)
    body = template(plan, definition)
    matches = lint(json.dumps(body), regions=["eu-west-1"])
    assert [str(m) for m in matches] == []
    resources = body["Resources"]
    kinds = sorted(r["Type"] for r in resources.values())
    assert kinds.count("AWS::IAM::Role") == 5 and kinds.count("AWS::Lambda::Function") == 3
    capture = resources["EndpointConfig"]["Properties"]["DataCaptureConfig"]
    assert (
        capture["InitialSamplingPercentage"] == 100 and capture["DestinationS3Uri"] == "s3://shop-bucket/data_capture"
    )
    machine = json.loads(resources["StateMachine"]["Properties"]["DefinitionString"])
    assert plan.function_arn("classify_image") in json.dumps(machine)
    policies = [
        r["Properties"]["Policies"][0]["PolicyDocument"] for r in resources.values() if "Policies" in r["Properties"]
    ]
    assert all("*" not in a for p in policies for s in p["Statement"] for a in s["Action"])


def test_template_wires_canary_rollback_alarms_and_target_tracking() -> None:
    from cfnlint.api import lint

    plan = build_plan(AwsOptions(bucket="shop-bucket", region="eu-west-1"), "123456789012", "ef" * 32)
    body = template(plan, statemachine.with_arns(statemachine.load_definition(), plan))
    assert [str(m) for m in lint(json.dumps(body), regions=["eu-west-1"])] == []
    resources = body["Resources"]
    config = resources["Endpoint"]["Properties"]["DeploymentConfig"]
    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY" and routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    assert config["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": {"Ref": "ErrorsAlarm"}},
        {"AlarmName": {"Ref": "LatencyAlarm"}},
    ]
    errors = resources["ErrorsAlarm"]["Properties"]
    assert errors["AlarmName"] == rollout.alarm_names(plan)[0] and errors["MetricName"] == "Invocation5XXErrors"
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "EndpointName": plan.endpoint_name,
        "VariantName": "AllTraffic",
    }
    assert resources["LatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
    target = resources["ScalableTarget"]["Properties"]
    assert target["ResourceId"] == f"endpoint/{plan.endpoint_name}/variant/AllTraffic"
    metric = resources["ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert metric["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_the_rollout_options_reach_the_deployment_config_and_the_scaling_policy() -> None:
    """The same knobs as the local update-endpoint --strategy and deploy --max-workers: linear steps, the bake,
    and target tracking from --instance-count to --max-instances at --target-invocations-per-instance."""
    from cfnlint.api import lint

    options = AwsOptions(
        bucket="shop-bucket", region="eu-west-1", strategy="linear", linear_step=20, interval_seconds=120,
        bake_seconds=600, instance_count=2, max_instances=6, target_invocations_per_instance=750.0,
    )  # fmt: skip
    plan = build_plan(options, "123456789012", "ef" * 32)
    body = template(plan, statemachine.with_arns(statemachine.load_definition(), plan))
    assert [str(m) for m in lint(json.dumps(body), regions=["eu-west-1"])] == []
    resources = body["Resources"]
    policy = resources["Endpoint"]["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "LINEAR", "WaitIntervalInSeconds": 120, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
    }  # fmt: skip
    assert policy["TerminationWaitInSeconds"] == 600 and policy["MaximumExecutionTimeoutInSeconds"] >= 5 * 120 + 600
    assert resources["EndpointConfig"]["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] == 2
    target = resources["ScalableTarget"]["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    tracking = resources["ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 750.0
    everything = AwsOptions(bucket="shop-bucket", region="eu-west-1", strategy="all-at-once", interval_seconds=0)
    routing = rollout.deployment_config(build_plan(everything, "123456789012", "ef" * 32))
    assert routing["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0
    }  # fmt: skip


@pytest.mark.parametrize(("change", "message"), [
    ({"strategy": "blue"}, "Strategy 'blue' is not one of all-at-once, canary, linear"),
    ({"canary_percent": 100}, "--canary-percent is 100; give a share of capacity between 0 and 100"),
    ({"bake_seconds": 4000}, "--bake-seconds is 4000; SageMaker takes 0 to 3600 seconds"),
    ({"instance_count": 3, "max_instances": 2}, "--max-instances is 2; give 3 (the minimum) to 100"),
    ({"target_invocations_per_instance": 0}, "--target-invocations-per-instance must be more than 0"),
])  # fmt: skip
def test_rollout_options_are_checked(change: dict[str, object], message: str) -> None:
    with pytest.raises(AwsError, match=re.escape(message)):
        AwsOptions(bucket="shop-bucket", region="eu-west-1", **change)  # type: ignore[arg-type]
