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
--max-workers --target-invocations-per-worker`. Each production variant gets its own two alarms
and its own scalable target (a shadow variant neither rolls back nor scales: its answers reach
nobody). The alarms and the policies name only this endpoint's variants (least privilege:
nothing else can trip a rollback or be scaled).

`scones up` runs the same DeploymentConfig locally: its UpdateEndpoint reads an alarm named
`<anything>-5xx-errors` or `<anything>-p99-model-latency` as the local trigger that alarm stands
for (`LOCAL_TRIGGERS`).
"""

from __future__ import annotations

import math
from typing import Any

from scones.aws.plan import Plan
from scones.endpoint.variants import Variant

MAX_ERRORS_PER_MINUTE = 5
MAX_P99_MODEL_LATENCY_US = 500_000  # ModelLatency is in microseconds
MAX_EXECUTION_SECONDS = (600, 28_800)  # SageMaker's bounds on MaximumExecutionTimeoutInSeconds
# Each alarm's name ends with what it watches; it stands for this local trigger (`scones up` reads it so).
LOCAL_TRIGGERS = {"5xx-errors": "error_rate", "p99-model-latency": "p99_latency"}


def alarm_names(plan: Plan) -> list[str]:
    return [f"{plan.endpoint_name}-{v.name}-{suffix}" for v in plan.production for suffix in LOCAL_TRIGGERS]


def alarms(plan: Plan) -> list[dict[str, Any]]:
    """Two rollback alarms per production variant, as PutMetricAlarm's arguments (= AWS::CloudWatch::Alarm).

    They stand for the local triggers error_rate (Invocation5XXErrors, Sum per minute) and
    p99_latency (ModelLatency p99); the other local triggers judge predictions, which CloudWatch
    does not see.
    """
    return [alarm for variant in plan.production for alarm in _variant_alarms(plan, variant)]


def _variant_alarms(plan: Plan, variant: Variant) -> list[dict[str, Any]]:
    dimensions = [
        {"Name": "EndpointName", "Value": plan.endpoint_name},
        {"Name": "VariantName", "Value": variant.name},
    ]
    errors, latency = (f"{plan.endpoint_name}-{variant.name}-{suffix}" for suffix in LOCAL_TRIGGERS)
    common = {"Namespace": "AWS/SageMaker", "Dimensions": dimensions, "Period": 60, "EvaluationPeriods": 2,
              "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}  # fmt: skip
    return [
        {
            "AlarmName": errors,
            "AlarmDescription": f"scones: variant {variant.name} answers 5xx; rolls a deployment back",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": MAX_ERRORS_PER_MINUTE,
            **common,
        },
        {
            "AlarmName": latency,
            "AlarmDescription": f"scones: variant {variant.name}'s p99 model latency is too high; rolls an update back",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": MAX_P99_MODEL_LATENCY_US,
            **common,
        },
    ]


def scalable_target(plan: Plan, variant: Variant | str) -> dict[str, Any]:
    """RegisterScalableTarget's arguments (= the AWS::ApplicationAutoScaling::ScalableTarget properties)."""
    name = variant if isinstance(variant, str) else variant.name
    return {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": f"endpoint/{plan.endpoint_name}/variant/{name}",
        "MinCapacity": plan.options.instance_count,
        "MaxCapacity": plan.options.max_instances,
    }


def scaling_policy_name(plan: Plan) -> str:
    """One name for every variant's policy: a policy name is unique per scalable target."""
    return f"{plan.endpoint_name}-invocations-per-instance"


def scaling_configuration(plan: Plan) -> dict[str, Any]:
    """Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""
    return {
        "TargetValue": plan.options.target_invocations_per_instance,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": 60,
        "ScaleInCooldown": 300,
    }


def logical_ids(plan: Plan) -> dict[str, str]:
    """Each production variant's suffix of CloudFormation logical ids (letters and digits, unique)."""
    ids: dict[str, str] = {}
    for index, variant in enumerate(plan.production):
        suffix = "".join(ch for ch in variant.name if ch.isalnum())
        ids[variant.name] = suffix if suffix not in ids.values() else f"{suffix}{index}"
    return ids


def resources(plan: Plan) -> dict[str, Any]:
    """Per production variant: the CloudWatch alarms and the auto scaling target and policy, as template resources."""
    out: dict[str, Any] = {}
    for variant in plan.production:
        suffix = logical_ids(plan)[variant.name]
        errors, latency = _variant_alarms(plan, variant)
        out[f"ErrorsAlarm{suffix}"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": errors}
        out[f"LatencyAlarm{suffix}"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": latency}
        out[f"ScalableTarget{suffix}"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "DependsOn": ["Endpoint"],
            "Properties": scalable_target(plan, variant),
        }
        out[f"ScalingPolicy{suffix}"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": scaling_policy_name(plan),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": f"ScalableTarget{suffix}"},
                "TargetTrackingScalingPolicyConfiguration": scaling_configuration(plan),
            },
        }
    return out


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
        alarm_refs = [
            {"Ref": f"{kind}Alarm{suffix}"} for suffix in logical_ids(plan).values() for kind in ("Errors", "Latency")
        ]
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
