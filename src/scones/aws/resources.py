"""Creating or updating each AWS resource of a deployment, recording it as soon as it exists.

Each function takes the clients, the plan and the record: a resource the record holds is
updated in place; one it does not hold is created, and a same-named resource this deployment
did not make is a conflict (never adopted). New IAM roles take seconds before AWS lets a
service assume them, so the calls that pass a new role retry while AWS says so.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from scones.aws import package, record as records, rollout
from scones.aws.errors import AwsError, aws_call, error_code
from scones.aws.plan import REMOTE_HOME, Plan
from scones.aws.policies import permissions_policy, trust_policy
from scones.aws.session import Clients

logger = logging.getLogger(__name__)
T = TypeVar("T")
POLICY_NAME = "scones-least-privilege"
WAIT_DELAY_SECONDS = 5  # between DescribeEndpoint looks while an endpoint starts or an update shifts
_PROPAGATION_DELAYS = (2, 4, 8, 16, 30)  # new IAM roles take seconds to be assumable


# -- IAM ----------------------------------------------------------------------------------------
def role(aws: Clients, plan: Plan, record: records.Record, role: str) -> None:
    name = plan.role_name(role)
    if not record.has("iam-role", name):
        _create(
            aws,
            record,
            "iam-role",
            name,
            lambda: aws.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy(role)),
                Description=f"scones {role} (least privilege)",
                Tags=[{"Key": k, "Value": v} for k, v in plan.tags.items()],
            ),
        )
    with aws_call(f"Setting the policy of role {name}"):
        aws.iam.put_role_policy(
            RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(permissions_policy(plan, role))
        )


# -- SageMaker ----------------------------------------------------------------------------------
def sagemaker(aws: Clients, plan: Plan, record: records.Record) -> list[str]:
    """The variants' models, the endpoint config (production variants, shadow, data capture), the endpoint.

    Returns the variants whose auto scaling an update retired (`retire_scaling`); none on a create.
    """
    tags = [{"Key": k, "Value": v} for k, v in plan.tags.items()]
    for model_name, variant in plan.models.items():
        if record.has("sagemaker-model", model_name):
            continue
        container = {
            "Image": plan.image_uri,
            "ModelDataUrl": f"s3://{plan.bucket}/{plan.model_key_of(variant)}",
            "Environment": {"SCONES_HOME": REMOTE_HOME},
        }
        create = functools.partial(
            aws.sagemaker.create_model,
            ModelName=model_name,
            PrimaryContainer=container,
            ExecutionRoleArn=plan.role_arn("sagemaker"),
            Tags=tags,
        )
        _create(aws, record, "sagemaker-model", model_name, functools.partial(_after_role_propagates, create))
    if not record.has("sagemaker-endpoint-config", plan.endpoint_config_name):
        shadows = {"ShadowProductionVariants": plan.shadow_variants()} if plan.shadow else {}
        _create(
            aws,
            record,
            "sagemaker-endpoint-config",
            plan.endpoint_config_name,
            lambda: aws.sagemaker.create_endpoint_config(
                EndpointConfigName=plan.endpoint_config_name,
                ProductionVariants=plan.production_variants(),
                **shadows,
                DataCaptureConfig=plan.data_capture_config,
                Tags=tags,
            ),
        )
    if record.has("sagemaker-endpoint", plan.endpoint_name):
        with aws_call(f"Updating endpoint {plan.endpoint_name}"):
            current = aws.sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)["EndpointConfigName"]
        if current == plan.endpoint_config_name:
            return []
        retired = retire_scaling(aws, plan, current)
        try:  # blue/green by --strategy, rolled back on the alarms
            with aws_call(f"Updating endpoint {plan.endpoint_name}"):
                aws.sagemaker.update_endpoint(
                    EndpointName=plan.endpoint_name,
                    EndpointConfigName=plan.endpoint_config_name,
                    DeploymentConfig=update_deployment_config(plan),
                )
        except AwsError:
            restore_scaling(aws, plan, record, retired)
            raise
        return retired
    _create(
        aws,
        record,
        "sagemaker-endpoint",
        plan.endpoint_name,
        lambda: aws.sagemaker.create_endpoint(
            EndpointName=plan.endpoint_name, EndpointConfigName=plan.endpoint_config_name, Tags=tags
        ),
    )
    return []


def in_service(aws: Clients, plan: Plan) -> None:
    """Wait while the endpoint is created or updated; an update rolled back on an alarm is an error.

    The wait lasts as long as SageMaker may take (at least an hour, or the update's whole
    MaximumExecutionTimeoutInSeconds), looking every few seconds.
    """
    timeout = update_deployment_config(plan)["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"]
    attempts = max(3600, timeout) // WAIT_DELAY_SECONDS
    with aws_call(f"Waiting for endpoint {plan.endpoint_name} to be InService"):
        aws.sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=plan.endpoint_name, WaiterConfig={"Delay": WAIT_DELAY_SECONDS, "MaxAttempts": attempts}
        )
        endpoint = aws.sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)
    if endpoint["EndpointConfigName"] != plan.endpoint_config_name:
        reason = endpoint.get("FailureReason") or "an alarm fired during the traffic shift"
        raise AwsError(
            f"Endpoint {plan.endpoint_name} rolled the update to {plan.endpoint_config_name} back ({reason}); "
            f"it still serves {endpoint['EndpointConfigName']}. See the alarms "
            f"{', '.join(rollout.alarm_names(plan))} in CloudWatch"
        )


def update_deployment_config(plan: Plan) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig, naming the alarms `alarms` creates."""
    return rollout.deployment_config(plan, rollout.alarm_names(plan))


# -- CloudWatch and Application Auto Scaling ----------------------------------------------------
def alarms(aws: Clients, plan: Plan, record: records.Record) -> None:
    """The rollback alarms; PutMetricAlarm creates or overwrites, so a re-run updates them."""
    for alarm in rollout.alarms(plan):
        name = alarm["AlarmName"]
        if not record.has("cloudwatch-alarm", name):
            with aws_call(f"Looking up alarm {name}"):
                taken = aws.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
            if taken:  # PutMetricAlarm would silently overwrite someone else's alarm
                raise AwsError(
                    f"cloudwatch-alarm {name} already exists and this deployment did not make it; "
                    "pass another --endpoint-name or remove it"
                )
        with aws_call(f"Putting alarm {name}"):
            aws.cloudwatch.put_metric_alarm(**alarm, Tags=[{"Key": k, "Value": v} for k, v in plan.tags.items()])
        if not record.has("cloudwatch-alarm", name):
            record.add("cloudwatch-alarm", name)
            records.write(aws.s3, record)


def retire_scaling(aws: Clients, plan: Plan, current_config: str) -> list[str]:
    """Deregister the auto scaling of the variants an update drops or moves to another instance type.

    SageMaker refuses such an UpdateEndpoint while the variant is a scalable target
    (docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html); deregistering also
    deletes its policies. `scaling` registers the planned variants again once the update is done.
    Returns the retired variants' names.
    """
    with aws_call(f"Describing endpoint config {current_config}"):
        serving = aws.sagemaker.describe_endpoint_config(EndpointConfigName=current_config)["ProductionVariants"]
    planned = {v["VariantName"]: v["InstanceType"] for v in plan.production_variants()}
    retired = [v["VariantName"] for v in serving if planned.get(v["VariantName"]) != v.get("InstanceType")]
    for name in retired:
        target = rollout.scalable_target(plan, name)
        try:
            with aws_call(f"Deregistering the scalable target {target['ResourceId']}"):
                aws.autoscaling.deregister_scalable_target(
                    ServiceNamespace=target["ServiceNamespace"],
                    ResourceId=target["ResourceId"],
                    ScalableDimension=target["ScalableDimension"],
                )
        except AwsError as exc:
            # Already gone, or never scaled (ObjectNotFoundException; moto says ValidationException).
            if error_code(exc) != "ObjectNotFoundException" and "no scalable target" not in str(exc).lower():
                raise
    return retired


def restore_scaling(aws: Clients, plan: Plan, record: records.Record, variants: list[str]) -> None:
    """Register `variants` (retired before an update that then failed or rolled back) and their policies again.

    Best effort: called while another error is on its way to the user, which must not be hidden.
    """
    for name in variants:
        try:
            _track(aws, plan, record, name)
        except AwsError as exc:
            logger.warning(
                "Could not restore the auto scaling of variant %s (%s); register it again by hand", name, exc
            )


def scaling(aws: Clients, plan: Plan, record: records.Record) -> None:
    """Target tracking for each production variant; Application Auto Scaling wants the endpoint InService first."""
    for variant in plan.production:
        _track(aws, plan, record, variant.name)


def _track(aws: Clients, plan: Plan, record: records.Record, variant: str) -> None:
    """Register `variant` as a scalable target and put its target-tracking policy, each recorded once made."""
    name = rollout.scaling_policy_name(plan)
    target = rollout.scalable_target(plan, variant)
    with aws_call(f"Registering the scalable target {target['ResourceId']}"):
        aws.autoscaling.register_scalable_target(**target)  # creates or updates
    _remember(aws, record, "scalable-target", target["ResourceId"])
    with aws_call(f"Putting the scaling policy {name} on {target['ResourceId']}"):
        aws.autoscaling.put_scaling_policy(
            PolicyName=name,
            ServiceNamespace=target["ServiceNamespace"],
            ResourceId=target["ResourceId"],
            ScalableDimension=target["ScalableDimension"],
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=rollout.scaling_configuration(plan),
        )
    _remember(aws, record, "scaling-policy", f"{target['ResourceId']}|{name}")  # destroy needs both


def _remember(aws: Clients, record: records.Record, kind: str, name: str) -> None:
    if not record.has(kind, name):
        record.add(kind, name)
        records.write(aws.s3, record)


# -- Lambda and Step Functions ------------------------------------------------------------------
def function(aws: Clients, plan: Plan, record: records.Record, module: str, code: bytes) -> None:
    name = plan.function_name(module)
    settings: dict[str, Any] = {
        "Role": plan.role_arn(module),
        "Handler": package.handler_name(module),
        "Runtime": plan.options.lambda_runtime,
        "Environment": {"Variables": plan.function_environment(module)},
        "Timeout": 30,
        "MemorySize": 256,
        "Description": f"scones {module}",
    }
    if record.has("lambda-function", name):
        with aws_call(f"Updating function {name}"):
            aws.awslambda.update_function_configuration(FunctionName=name, **settings)
            aws.awslambda.get_waiter("function_updated").wait(FunctionName=name)
            aws.awslambda.update_function_code(FunctionName=name, ZipFile=code)
        return
    _create(
        aws,
        record,
        "lambda-function",
        name,
        lambda: _after_role_propagates(
            lambda: aws.awslambda.create_function(FunctionName=name, Code={"ZipFile": code}, Tags=plan.tags, **settings)
        ),
    )


def state_machine(aws: Clients, plan: Plan, record: records.Record, definition: dict[str, Any]) -> None:
    body = json.dumps(definition, indent=2)
    if record.has("state-machine", plan.state_machine_arn):  # recorded by ARN: what deleting takes
        with aws_call(f"Updating state machine {plan.state_machine_name}"):
            aws.stepfunctions.update_state_machine(
                stateMachineArn=plan.state_machine_arn, definition=body, roleArn=plan.role_arn("states")
            )
        return
    _create(
        aws,
        record,
        "state-machine",
        plan.state_machine_arn,
        lambda: _after_role_propagates(
            lambda: aws.stepfunctions.create_state_machine(
                name=plan.state_machine_name,
                definition=body,
                roleArn=plan.role_arn("states"),
                type="STANDARD",
                tags=[{"key": k, "value": v} for k, v in plan.tags.items()],
            )
        ),
    )


# -- helpers ------------------------------------------------------------------------------------
_EXISTS = {"EntityAlreadyExists", "ResourceConflictException", "StateMachineAlreadyExists"}


def _create(aws: Clients, record: records.Record, kind: str, name: str, call: Callable[[], Any]) -> None:
    """Create one resource and record it at once; a same-named resource we did not make is a conflict."""
    try:
        with aws_call(f"Creating {kind} {name}"):
            call()
    except AwsError as exc:
        if error_code(exc) in _EXISTS or "already exist" in str(exc).lower():
            raise AwsError(
                f"{kind} {name} already exists and this deployment did not make it; "
                "pass another --name/--endpoint-name or remove it"
            ) from exc
        raise
    record.add(kind, name)
    records.write(aws.s3, record)
    logger.info("created %s %s", kind, name)


def _after_role_propagates(call: Callable[[], T]) -> T:
    """Retry `call` while AWS still says a just-created role cannot be assumed."""
    from botocore.exceptions import ClientError

    for delay in _PROPAGATION_DELAYS:
        try:
            return call()
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", "")).lower()
            if "role" not in message or not ("assume" in message or "not authorized" in message):
                raise
            logger.info("waiting %ss for the new role to propagate: %s", delay, message)
            time.sleep(delay)
    return call()
