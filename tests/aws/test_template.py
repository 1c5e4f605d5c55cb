from __future__ import annotations

import json

from scones.aws import AwsOptions, build_plan, statemachine
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

    from scones.aws import rollout

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
