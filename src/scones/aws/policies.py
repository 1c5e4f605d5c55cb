"""Least-privilege IAM policies: each role may touch only this bucket's prefixes, this
endpoint, these functions and its own log group (the seed gave every role FullAccess).

The one `"Resource": "*"` of the roles is `ecr:GetAuthorizationToken`, which AWS does not scope
to a resource; the image pull itself is limited to the one repository.

`rollout_policy` is for the credentials that run `scones aws deploy|destroy`, not for a role:
what the rollback alarms, the blue/green UpdateEndpoint and the target-tracking scaling need.
Application Auto Scaling's own actions take `"Resource": "*"` here because the ARN of a
scalable target carries an id AWS assigns when it is registered.
"""

from __future__ import annotations

from typing import Any

from scones.aws import rollout
from scones.aws.plan import CAPTURE_PREFIX, FUNCTIONS, Plan

Policy = dict[str, Any]
VERSION = "2012-10-17"

_PRINCIPALS = {
    "sagemaker": "sagemaker.amazonaws.com",
    "states": "states.amazonaws.com",
    **{module: "lambda.amazonaws.com" for module in FUNCTIONS},
}


def trust_policy(role: str) -> Policy:
    """Who may assume `role`: SageMaker, Step Functions or Lambda."""
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": _PRINCIPALS[role]}, "Action": "sts:AssumeRole"}],
    }


def permissions_policy(plan: Plan, role: str) -> Policy:
    """The inline policy of `role` (see `Plan.roles`)."""
    if role == "sagemaker":
        statements = _sagemaker(plan)
    elif role == "states":
        arns = [plan.function_arn(m) for m in FUNCTIONS]
        statements = [_allow("InvokePipelineFunctions", ["lambda:InvokeFunction"], arns + [a + ":*" for a in arns])]
    else:
        statements = _function(plan, role)
    return {"Version": VERSION, "Statement": statements}


def all_policies(plan: Plan) -> dict[str, dict[str, Policy]]:
    """Every role's name, trust policy and permissions policy, for export and review."""
    return {
        plan.role_name(role): {"trust": trust_policy(role), "permissions": permissions_policy(plan, role)}
        for role in plan.roles
    }


def _sagemaker(plan: Plan) -> list[Policy]:
    statements = [
        _allow("ReadModel", ["s3:GetObject"], [plan.bucket_arn(f"models/{name}/*") for name in plan.models]),
        _allow("WriteCapturedData", ["s3:PutObject"], [plan.bucket_arn(f"{CAPTURE_PREFIX}/*")]),
        _logs(plan, f"/aws/sagemaker/Endpoints/{plan.endpoint_name}"),
    ]
    repository = plan.ecr_repository_arn
    if repository:
        statements.append(
            _allow(
                "PullServingImage",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [repository],
            )
        )
        statements.append(_allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))  # not resource-scoped by AWS
    return statements


def _function(plan: Plan, module: str) -> list[Policy]:
    statements = [_logs(plan, f"/aws/lambda/{plan.function_name(module)}")]
    if module == "serialize_image_data":
        prefix = plan.options.data_prefix
        statements.append(_allow("ReadImages", ["s3:GetObject"], [plan.bucket_arn(f"{prefix}/*" if prefix else "*")]))
    elif module == "classify_image":
        statements.append(_allow("InvokeEndpoint", ["sagemaker:InvokeEndpoint"], [plan.endpoint_arn]))
    return statements


def _logs(plan: Plan, group: str) -> Policy:
    return _allow(
        "WriteOwnLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [plan.arn("logs", f"log-group:{group}"), plan.arn("logs", f"log-group:{group}:*")],
    )


def _allow(sid: str, actions: list[str], resources: list[str]) -> Policy:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


def rollout_policy(plan: Plan) -> Policy:
    """What `scones aws deploy|destroy` calls for the alarms, the blue/green update and the scaling policy.

    Application Auto Scaling checks the caller for the SageMaker and CloudWatch actions it takes on
    the caller's behalf (describing the endpoint and its config and resizing the variants, as
    SageMaker's auto scaling prerequisites list them; the TargetTracking-* alarms of each variant's
    policy), and makes its service-linked role on first use.
    """
    endpoint = plan.endpoint_name
    ours = [plan.arn("cloudwatch", f"alarm:{name}") for name in rollout.alarm_names(plan)]
    tracking = [
        plan.arn("cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint}/variant/{v.name}-*") for v in plan.production
    ]
    linked = f"role/aws-service-role/{AUTOSCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    linked_role = _allow(
        "AutoScalingServiceLinkedRole", ["iam:CreateServiceLinkedRole"], [plan.arn("iam", linked, regional=False)]
    )
    linked_role["Condition"] = {"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE}}
    return {
        "Version": VERSION,
        "Statement": [
            _allow(
                "RollbackAlarms",
                [
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                ],
                ours,
            ),
            _allow(
                "TargetTrackingAlarms",
                ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
                tracking,
            ),
            _allow(
                "BlueGreenUpdateAndScaling",
                [
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                ],
                [plan.endpoint_arn, plan.arn("sagemaker", f"endpoint-config/{endpoint.lower()}-*")],
            ),
            _allow(
                "TargetTracking",
                [
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:RegisterScalableTarget",
                ],
                ["*"],  # a scalable target's ARN carries an id AWS assigns at registration
            ),
            linked_role,
        ],
    }
