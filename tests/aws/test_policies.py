from __future__ import annotations

from typing import Any

import pytest

from scones.aws import AwsOptions, build_plan
from scones.aws.plan import Plan
from scones.aws.policies import all_policies, permissions_policy, trust_policy

ACCOUNT = "123456789012"


@pytest.fixture
def plan() -> Plan:
    return build_plan(AwsOptions(bucket="shop-bucket", region="us-west-2"), ACCOUNT, "ab" * 32)


def _statements(plan: Plan, role: str) -> list[dict[str, Any]]:
    return permissions_policy(plan, role)["Statement"]  # type: ignore[no-any-return]


def test_no_wildcard_actions_and_no_full_access(plan: Plan) -> None:
    for documents in all_policies(plan).values():
        for statement in documents["permissions"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action, action
                assert "FullAccess" not in action


def test_resources_are_scoped_to_this_deployment(plan: Plan) -> None:
    allowed = (
        "arn:aws:s3:::shop-bucket/",
        f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/aws/",
        f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:scones-",
        plan.endpoint_arn,
        plan.ecr_repository_arn or "-",
    )
    for documents in all_policies(plan).values():
        for statement in documents["permissions"]["Statement"]:
            for resource in statement["Resource"]:
                if resource == "*":  # the one action AWS cannot scope
                    assert statement["Action"] == ["ecr:GetAuthorizationToken"]
                    continue
                assert resource.startswith(allowed), resource


def test_each_role_gets_only_what_its_job_needs(plan: Plan) -> None:
    def actions(role: str) -> set[str]:
        return {a for s in _statements(plan, role) for a in s["Action"]}

    logs = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert actions("serialize_image_data") == logs | {"s3:GetObject"}
    assert actions("classify_image") == logs | {"sagemaker:InvokeEndpoint"}
    assert actions("filter_inferences") == logs
    assert actions("states") == {"lambda:InvokeFunction"}
    assert "s3:PutObject" in actions("sagemaker") and "s3:DeleteObject" not in actions("sagemaker")
    reads = [s for s in _statements(plan, "serialize_image_data") if s["Action"] == ["s3:GetObject"]]
    assert reads[0]["Resource"] == ["arn:aws:s3:::shop-bucket/data/*"]
    writes = [s for s in _statements(plan, "sagemaker") if s["Action"] == ["s3:PutObject"]]
    assert writes[0]["Resource"] == ["arn:aws:s3:::shop-bucket/data_capture/*"]
    invoke = _statements(plan, "states")[0]["Resource"]
    assert set(invoke) == {
        plan.function_arn(m) + q
        for m in ("serialize_image_data", "classify_image", "filter_inferences")
        for q in ("", ":*")
    }


def test_trust_policies_name_the_one_service() -> None:
    assert trust_policy("states")["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust_policy("classify_image")["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust_policy("sagemaker")["Statement"][0]["Action"] == "sts:AssumeRole"


def test_rollout_policy_names_only_this_endpoint_and_its_alarms(plan: Plan) -> None:
    from scones.aws.policies import rollout_policy

    for statement in rollout_policy(plan)["Statement"]:
        for action in statement["Action"]:
            assert "*" not in action, action
        for resource in statement["Resource"]:
            if resource == "*":  # scalable-target ARNs carry an id AWS assigns
                assert all(a.startswith("application-autoscaling:") for a in statement["Action"])
                continue
            assert resource.startswith(
                (
                    f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:{plan.endpoint_name}-",
                    f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:TargetTracking-endpoint/{plan.endpoint_name}/",
                    plan.endpoint_arn,
                    f"arn:aws:sagemaker:us-west-2:{ACCOUNT}:endpoint-config/{plan.endpoint_name}-",
                    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/",
                )
            ), resource


def test_every_variant_gets_its_model_read_and_its_alarms_but_the_shadow_no_alarms() -> None:
    from scones.aws.policies import rollout_policy
    from scones.endpoint.variants import Variant

    served = [
        Variant("Blue", "a", 1.0, "aa" * 32),
        Variant("Green", "b", 1.0, "bb" * 32),
        Variant("Shade", "c", 1.0, "cc" * 32, shadow=True),
    ]
    plan = build_plan(AwsOptions(bucket="shop-bucket", region="us-west-2"), ACCOUNT, served)
    (read,) = [s for s in _statements(plan, "sagemaker") if s["Sid"] == "ReadModel"]
    assert read["Resource"] == [f"arn:aws:s3:::shop-bucket/models/{plan.endpoint_name}-{h * 8}/*" for h in "abc"]
    statements = {s["Sid"]: s for s in rollout_policy(plan)["Statement"]}
    alarms = f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:"
    assert statements["RollbackAlarms"]["Resource"] == [
        f"{alarms}{plan.endpoint_name}-{v}-{kind}"
        for v in ("Blue", "Green")
        for kind in ("5xx-errors", "p99-model-latency")
    ]
    assert statements["TargetTrackingAlarms"]["Resource"] == [
        f"{alarms}TargetTracking-endpoint/{plan.endpoint_name}/variant/{v}-*" for v in ("Blue", "Green")
    ]
    assert "sagemaker:DescribeEndpointConfig" in statements["BlueGreenUpdateAndScaling"]["Action"]
