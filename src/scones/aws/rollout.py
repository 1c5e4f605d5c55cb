"""Safe rollout on AWS: the alarms, the blue/green DeploymentConfig and the target-tracking scaling
policy that go with the endpoint, as API arguments that `scones aws deploy` passes to boto3
(`resources.py`) and the CloudFormation template (`template.py`) declares.

Locally a rollback is judged on the models' own figures (`scones.endpoint.guardrails`); on AWS
SageMaker rolls back on CloudWatch alarms, so the export wires them: errors (Invocation5XXErrors)
and p99 ModelLatency of the endpoint's variant. An UpdateEndpoint to a new endpoint config then
shifts traffic as the options say (`--strategy canary|linear|all-at-once`, by default canary:
10% for 5 minutes), bakes (5 minutes), and rolls back by itself if an alarm fires. Application
Auto Scaling tracks SageMakerVariantInvocationsPerInstance (`--target-invocations-per-instance`,
from `--instance-count` to `--max-instances`), as SageMaker's documentation recommends for
real-time endpoints; the same knobs as the local `update-endpoint --strategy` and `deploy
--max-workers --target-invocations-per-worker`. The alarms and the policy name only this
endpoint's variant (least privilege: nothing else can trip a rollback or be scaled).
"""

from __future__ import annotations

import math
from typing import Any

from scones.aws.plan import VARIANT, Plan

MAX_ERRORS_PER_MINUTE = 5
MAX_P99_MODEL_LATENCY_US = 500_000  # ModelLatency is in microseconds
MAX_EXECUTION_SECONDS = (600, 28_800)  # SageMaker's bounds on MaximumExecutionTimeoutInSeconds


def alarm_names(plan: Plan) -> list[str]:
    return [f"{plan.endpoint_name}-5xx-errors", f"{plan.endpoint_name}-p99-model-latency"]


def alarms(plan: Plan) -> list[dict[str, Any]]:
    """The two rollback alarms, as PutMetricAlarm's arguments (= the AWS::CloudWatch::Alarm properties).

    They stand for the local triggers error_rate (Invocation5XXErrors, Sum per minute) and
    p99_latency (ModelLatency p99); the other local triggers judge predictions, which CloudWatch
    does not see.
    """
    dimensions = [{"Name": "EndpointName", "Value": plan.endpoint_name}, {"Name": "VariantName", "Value": VARIANT}]
    errors, latency = alarm_names(plan)
    common = {"Namespace": "AWS/SageMaker", "Dimensions": dimensions, "Period": 60, "EvaluationPeriods": 2,
              "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}  # fmt: skip
    return [
        {
            "AlarmName": errors,
            "AlarmDescription": "scones: the endpoint answers 5xx; rolls a deployment back",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": MAX_ERRORS_PER_MINUTE,
            **common,
        },
        {
            "AlarmName": latency,
            "AlarmDescription": "scones: p99 model latency is too high; rolls a deployment back",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": MAX_P99_MODEL_LATENCY_US,
            **common,
        },
    ]


def scalable_target(plan: Plan) -> dict[str, Any]:
    """RegisterScalableTarget's arguments (= the AWS::ApplicationAutoScaling::ScalableTarget properties)."""
    return {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": f"endpoint/{plan.endpoint_name}/variant/{VARIANT}",
        "MinCapacity": plan.options.instance_count,
        "MaxCapacity": plan.options.max_instances,
    }


def scaling_policy_name(plan: Plan) -> str:
    return f"{plan.endpoint_name}-invocations-per-instance"


def scaling_configuration(plan: Plan) -> dict[str, Any]:
    """Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""
    return {
        "TargetValue": plan.options.target_invocations_per_instance,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": 60,
        "ScaleInCooldown": 300,
    }


def resources(plan: Plan) -> dict[str, Any]:
    """CloudWatch alarms and the auto scaling target and policy for the endpoint's variant, as template resources."""
    errors, latency = alarms(plan)
    return {
        "ErrorsAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": errors},
        "LatencyAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": latency},
        "ScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "DependsOn": ["Endpoint"],
            "Properties": scalable_target(plan),
        },
        "ScalingPolicy": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": scaling_policy_name(plan),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": "ScalableTarget"},
                "TargetTrackingScalingPolicyConfiguration": scaling_configuration(plan),
            },
        },
    }


def deployment_config(plan: Plan, alarm_refs: list[Any] | None = None) -> dict[str, Any]:
    """The Endpoint's DeploymentConfig: blue/green by the plan's strategy, bake, automatic rollback on the alarms.

    `alarm_refs` name the alarms: by default CloudFormation Refs to the template's alarms; deploy
    passes the alarm names it created.
    """
    o = plan.options
    wait = o.interval_seconds
    if o.strategy == "canary":
        routing: dict[str, Any] = {
            "Type": "CANARY",
            "WaitIntervalInSeconds": wait,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": _whole(o.canary_percent)},
        }
        steps = 1
    elif o.strategy == "linear":
        routing = {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": wait,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": _whole(o.linear_step)},
        }
        steps = math.ceil(100 / o.linear_step)
    else:
        routing, steps = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait}, 1
    low, high = MAX_EXECUTION_SECONDS
    if alarm_refs is None:
        alarm_refs = [{"Ref": "ErrorsAlarm"}, {"Ref": "LatencyAlarm"}]
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": o.bake_seconds,
            "MaximumExecutionTimeoutInSeconds": min(high, max(low, 2 * (steps * wait + o.bake_seconds))),
        },
        "AutoRollbackConfiguration": {
            "Alarms": [{"AlarmName": ref} for ref in alarm_refs]
        },
    }  # fmt: skip


def _whole(percent: float) -> int | float:
    return int(percent) if float(percent).is_integer() else percent
