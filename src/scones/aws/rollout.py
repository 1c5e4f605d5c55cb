"""Safe rollout on AWS: the alarms, the blue/green DeploymentConfig and the target-tracking scaling
policy that go with the endpoint in the CloudFormation template (`template.py`).

Locally a rollback is judged on the models' own figures (`scones.endpoint.guardrails`); on AWS
SageMaker rolls back on CloudWatch alarms, so the export wires them: errors (Invocation5XXErrors)
and p99 ModelLatency of the endpoint's variant. An UpdateEndpoint to a new endpoint config then
shifts traffic by canary (10% for 5 minutes), bakes 5 minutes, and rolls back by itself if an
alarm fires. Application Auto Scaling tracks SageMakerVariantInvocationsPerInstance, as
SageMaker's documentation recommends for real-time endpoints.
"""

from __future__ import annotations

from typing import Any

from scones.aws.plan import VARIANT, Plan

CANARY_PERCENT = 10
WAIT_SECONDS = 300  # the canary's interval, and the bake (TerminationWaitInSeconds)
MAX_ERRORS_PER_MINUTE = 5
MAX_P99_MODEL_LATENCY_US = 500_000  # ModelLatency is in microseconds
MAX_INSTANCES = 4
TARGET_INVOCATIONS_PER_INSTANCE = 200.0  # per minute; measure yours (docs/benchmarks.md)


def alarm_names(plan: Plan) -> list[str]:
    return [f"{plan.endpoint_name}-5xx-errors", f"{plan.endpoint_name}-p99-model-latency"]


def resources(plan: Plan) -> dict[str, Any]:
    """CloudWatch alarms and the auto scaling target and policy for the endpoint's variant."""
    dimensions = [{"Name": "EndpointName", "Value": plan.endpoint_name}, {"Name": "VariantName", "Value": VARIANT}]
    errors, latency = alarm_names(plan)
    common = {"Namespace": "AWS/SageMaker", "Dimensions": dimensions, "Period": 60, "EvaluationPeriods": 2,
              "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}  # fmt: skip
    return {
        "ErrorsAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": errors,
                "AlarmDescription": "scones: the endpoint answers 5xx; rolls a deployment back",
                "MetricName": "Invocation5XXErrors",
                "Statistic": "Sum",
                "Threshold": MAX_ERRORS_PER_MINUTE,
                **common,
            },
        },  # fmt: skip
        "LatencyAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": latency,
                "AlarmDescription": "scones: p99 model latency is too high; rolls a deployment back",
                "MetricName": "ModelLatency",
                "ExtendedStatistic": "p99",
                "Threshold": MAX_P99_MODEL_LATENCY_US,
                **common,
            },
        },  # fmt: skip
        "ScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "DependsOn": ["Endpoint"],
            "Properties": {
                "ServiceNamespace": "sagemaker",
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "ResourceId": f"endpoint/{plan.endpoint_name}/variant/{VARIANT}",
                "MinCapacity": plan.options.instance_count,
                "MaxCapacity": max(MAX_INSTANCES, plan.options.instance_count),
            },
        },  # fmt: skip
        "ScalingPolicy": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": f"{plan.endpoint_name}-invocations-per-instance",
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": "ScalableTarget"},
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": TARGET_INVOCATIONS_PER_INSTANCE,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                    "ScaleOutCooldown": 60,
                    "ScaleInCooldown": 300,
                },
            },
        },  # fmt: skip
    }


def deployment_config() -> dict[str, Any]:
    """The Endpoint's DeploymentConfig: blue/green canary, bake, automatic rollback on the alarms."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": WAIT_SECONDS,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": CANARY_PERCENT},
            },
            "TerminationWaitInSeconds": WAIT_SECONDS,
            "MaximumExecutionTimeoutInSeconds": 4 * WAIT_SECONDS,
        },
        "AutoRollbackConfiguration": {
            "Alarms": [{"AlarmName": {"Ref": "ErrorsAlarm"}}, {"AlarmName": {"Ref": "LatencyAlarm"}}]
        },
    }  # fmt: skip
