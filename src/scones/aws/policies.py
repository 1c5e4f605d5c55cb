"""Least-privilege IAM policies: each role may touch only this bucket's prefixes, this
endpoint, these functions and its own log group (the seed gave every role FullAccess).

The one `"Resource": "*"` is `ecr:GetAuthorizationToken`, which AWS does not scope to a
resource; the image pull itself is limited to the one repository.
"""

from __future__ import annotations

from typing import Any

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
        _allow("ReadModel", ["s3:GetObject"], [plan.bucket_arn(f"models/{plan.model_name}/*")]),
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
