from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from scones.aws import AwsOptions, build_plan, rollout, statemachine
from scones.aws.errors import AwsError
from scones.aws.template import template
from scones.endpoint.variants import Variant


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
        {"AlarmName": {"Ref": "ErrorsAlarmAllTraffic"}},
        {"AlarmName": {"Ref": "LatencyAlarmAllTraffic"}},
    ]
    errors = resources["ErrorsAlarmAllTraffic"]["Properties"]
    assert errors["AlarmName"] == rollout.alarm_names(plan)[0] and errors["MetricName"] == "Invocation5XXErrors"
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "EndpointName": plan.endpoint_name,
        "VariantName": "AllTraffic",
    }
    assert resources["LatencyAlarmAllTraffic"]["Properties"]["ExtendedStatistic"] == "p99"
    target = resources["ScalableTargetAllTraffic"]["Properties"]
    assert target["ResourceId"] == f"endpoint/{plan.endpoint_name}/variant/AllTraffic"
    metric = resources["ScalingPolicyAllTraffic"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
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
    target = resources["ScalableTargetAllTraffic"]["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    tracking = resources["ScalingPolicyAllTraffic"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 750.0
    everything = AwsOptions(bucket="shop-bucket", region="eu-west-1", strategy="all-at-once", interval_seconds=0)
    routing = rollout.deployment_config(build_plan(everything, "123456789012", "ef" * 32))
    assert routing["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0
    }  # fmt: skip


def test_variants_and_a_shadow_each_get_their_model_and_weight_and_production_variants_their_alarms() -> None:
    """`--variant Blue=a:3 --variant Green=b:1 --shadow Candidate=c:50`: three models, two weighted production
    variants, a shadow mirroring half the requests, and alarms and scaling for the two production variants only."""
    from cfnlint.api import lint

    served = [
        Variant("Blue", "a.tar.gz", 3.0, "aa" * 32),
        Variant("Green", "b.tar.gz", 1.0, "bb" * 32),
        Variant("Candidate", "c.tar.gz", 0.5, "cc" * 32, shadow=True),
    ]
    plan = build_plan(AwsOptions(bucket="shop-bucket", region="eu-west-1"), "123456789012", served)
    body = template(plan, statemachine.with_arns(statemachine.load_definition(), plan))
    assert [str(m) for m in lint(json.dumps(body), regions=["eu-west-1"])] == []
    resources = body["Resources"]
    models = {r["Properties"]["ModelName"]: r for r in resources.values() if r["Type"] == "AWS::SageMaker::Model"}
    assert sorted(models) == [f"{plan.endpoint_name}-{h * 4}" for h in ("aa", "bb", "cc")]
    config = resources["EndpointConfig"]["Properties"]
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in config["ProductionVariants"]] == [
        ("Blue", 3.0),
        ("Green", 1.0),
    ]
    (shadow,) = config["ShadowProductionVariants"]
    assert shadow["VariantName"] == "Candidate" and shadow["InitialVariantWeight"] == 2.0  # 50% of 3 + 1
    green_model = config["ProductionVariants"][1]["ModelName"]["Fn::GetAtt"][0]
    assert resources[green_model]["Properties"]["ModelName"] == f"{plan.endpoint_name}-{'bb' * 4}"
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert sorted({d["Value"] for a in alarms for d in a["Dimensions"] if d["Name"] == "VariantName"}) == [
        "Blue",
        "Green",
    ]
    rollback = resources["Endpoint"]["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(rollback) == 4 and all(resources[a["AlarmName"]["Ref"]] for a in rollback)
    targets = [r["Properties"]["ResourceId"] for r in resources.values() if "ResourceId" in r["Properties"]]
    assert targets == [f"endpoint/{plan.endpoint_name}/variant/{v}" for v in ("Blue", "Green")]
    reads = resources["SagemakerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]
    assert reads == [f"arn:aws:s3:::shop-bucket/models/{name}/*" for name in plan.models]


def test_a_new_weight_or_variant_is_a_new_endpoint_config_and_six_variants_are_refused() -> None:
    options = AwsOptions(bucket="shop-bucket", region="eu-west-1")
    one = build_plan(options, "123456789012", "aa" * 32)
    assert one.endpoint_config_name == f"{one.endpoint_name}-aaaaaaaa"  # one AllTraffic variant: named by its model
    split = [Variant("Blue", "a", 0.9, "aa" * 32), Variant("Green", "b", 0.1, "bb" * 32)]
    names = {
        build_plan(options, "123456789012", variants).endpoint_config_name
        for variants in (split, [split[0], replace(split[1], weight=0.2)], [split[0]], [replace(split[0], name="X")])
    }
    assert len(names | {one.endpoint_config_name}) == 5
    six = [Variant(f"V{i}", "m", 1.0, "aa" * 32) for i in range(6)]
    with pytest.raises(AwsError, match="At most 5 production variants on AWS"):
        build_plan(options, "123456789012", six)


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
