"""A CloudFormation template of the same deployment, for teams that deploy through pipelines.

It declares the resources deploy creates one by one (roles with the same least-privilege
policies, a SageMaker model per distinct model / endpoint config with the production variants,
their weights, the shadow and data capture / endpoint with a blue/green DeploymentConfig, each
production variant's CloudWatch alarms and target-tracking auto scaling, the three
functions, the state machine with real ARNs), from the same `Plan`. The model and Lambda
zips are read from the bucket, where the export's README says to upload them.
"""

from __future__ import annotations

import json
from typing import Any

from scones.aws import package, rollout
from scones.aws.plan import FUNCTIONS, REMOTE_HOME, Plan
from scones.aws.policies import permissions_policy, trust_policy
from scones.endpoint.variants import Variant

CODE_PREFIX = "scones-aws/lambda"  # where the export's Lambda zips go in the bucket


def code_key(plan: Plan, module: str) -> str:
    return f"{CODE_PREFIX}/{plan.function_name(module)}.zip"


def template(plan: Plan, definition: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template (JSON) for `plan`; `definition` is the ASL with ARNs."""
    resources: dict[str, Any] = {}
    for role in plan.roles:
        resources[_logical(role, "Role")] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": plan.role_name(role),
                "AssumeRolePolicyDocument": trust_policy(role),
                "Policies": [
                    {"PolicyName": "scones-least-privilege", "PolicyDocument": permissions_policy(plan, role)}
                ],
                "Tags": _tags(plan),
            },
        }
    for name, variant in plan.models.items():
        resources[_model_logical(plan, variant)] = {
            "Type": "AWS::SageMaker::Model",
            "Properties": {
                "ModelName": name,
                "ExecutionRoleArn": {"Fn::GetAtt": [_logical("sagemaker", "Role"), "Arn"]},
                "PrimaryContainer": {
                    "Image": plan.image_uri,
                    "ModelDataUrl": f"s3://{plan.bucket}/{plan.model_key_of(variant)}",
                    "Environment": {"SCONES_HOME": REMOTE_HOME},
                },
                "Tags": _tags(plan),
            },
        }
    by_name = {v.name: v for v in plan.variants}

    def with_model_ref(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**v, "ModelName": {"Fn::GetAtt": [_model_logical(plan, by_name[str(v["VariantName"])]), "ModelName"]}}
            for v in listed
        ]

    config: dict[str, Any] = {
        "EndpointConfigName": plan.endpoint_config_name,
        "ProductionVariants": with_model_ref(plan.production_variants()),
    }
    if plan.shadow:
        config["ShadowProductionVariants"] = with_model_ref(plan.shadow_variants())
    resources["EndpointConfig"] = {
        "Type": "AWS::SageMaker::EndpointConfig",
        "Properties": {**config, "DataCaptureConfig": plan.data_capture_config, "Tags": _tags(plan)},
    }
    resources["Endpoint"] = {
        "Type": "AWS::SageMaker::Endpoint",
        "Properties": {
            "EndpointName": plan.endpoint_name,
            "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
            "DeploymentConfig": rollout.deployment_config(plan),  # a later UpdateEndpoint: canary, auto rollback
            "Tags": _tags(plan),
        },
    }
    resources.update(rollout.resources(plan))  # the alarms it rolls back on, and target-tracking scaling
    for module in FUNCTIONS:
        resources[_logical(module, "Function")] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": plan.function_name(module),
                "Runtime": plan.options.lambda_runtime,
                "Handler": package.handler_name(module),
                "Role": {"Fn::GetAtt": [_logical(module, "Role"), "Arn"]},
                "Code": {"S3Bucket": plan.bucket, "S3Key": code_key(plan, module)},
                "Environment": {"Variables": plan.function_environment(module)},
                "Timeout": 30,
                "MemorySize": 256,
                "Tags": _tags(plan),
            },
        }
    resources["StateMachine"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "DependsOn": [_logical(m, "Function") for m in FUNCTIONS],
        "Properties": {
            "StateMachineName": plan.state_machine_name,
            "StateMachineType": "STANDARD",
            "RoleArn": {"Fn::GetAtt": [_logical("states", "Role"), "Arn"]},
            "DefinitionString": json.dumps(definition, indent=2),
            "Tags": _tags(plan),
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "scones: the bicycle/motorcycle classifier pipeline (S3, SageMaker, Lambda, Step Functions)",
        "Resources": resources,
        "Outputs": {
            "EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}},
            "StateMachineArn": {"Value": {"Ref": "StateMachine"}},
        },
    }


def _model_logical(plan: Plan, variant: Variant) -> str:
    """A model's logical id: 'Model' and its sha256's first 8 hex digits (one per distinct model)."""
    return f"Model{plan.model_name_of(variant).rsplit('-', 1)[1]}"


def _logical(name: str, suffix: str) -> str:
    """A CloudFormation logical id: 'classify_image' + 'Role' -> 'ClassifyImageRole'."""
    return "".join(part.capitalize() for part in name.split("_")) + suffix


def _tags(plan: Plan) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in plan.tags.items()]
