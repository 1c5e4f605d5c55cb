"""`scones aws deploy`: the whole pipeline on AWS, from the local data and model artifact.

Order: everything is checked first (model, staged data, functions, state machine, serving
image), then created: bucket and uploads, IAM roles, SageMaker model + endpoint config (data
capture 100%) + endpoint, the three Lambda functions, the Step Functions state machine. Each
resource is recorded in the bucket as soon as it exists (`scones.aws.record`), so `destroy`
can undo a deployment that failed half-way. Re-running updates what the record holds.
boto3 reads credentials and `AWS_ENDPOINT_URL` from the environment; nothing here overrides them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scones.aws import package, record as records, statemachine
from scones.aws.errors import AwsError, aws_call, error_code
from scones.aws.plan import FUNCTIONS, REMOTE_HOME, VARIANT, AwsOptions, Plan, build_plan
from scones.aws.policies import permissions_policy, trust_policy
from scones.aws.session import Clients, account_id, clients
from scones.aws.sources import StagedData, load_model, staged_data
from scones.config import Settings
from scones.progress import NullProgress, Progress

logger = logging.getLogger(__name__)
T = TypeVar("T")
POLICY_NAME = "scones-least-privilege"
_PROPAGATION_DELAYS = (2, 4, 8, 16, 30)  # new IAM roles take seconds to be assumable


@dataclass(frozen=True)
class Step:
    """One thing deploy does (what --dry-run prints)."""

    kind: str
    name: str
    detail: str


@dataclass
class Deployment:
    """The plan, the steps, and (unless a dry run) the record of what exists."""

    plan: Plan
    steps: list[Step]
    dry_run: bool
    record: records.Record | None = None
    definition: dict[str, Any] = field(default_factory=dict)


def deploy(
    options: AwsOptions,
    settings: Settings,
    model: str | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Deployment:
    """Deploy (or with `dry_run`, only plan) the pipeline described by `options`."""
    progress = progress or NullProgress()
    model_bytes, sha = load_model(settings, model)
    data = staged_data(settings, options.data_prefix)
    aws = clients(options.region)
    plan = build_plan(options, account_id(aws), sha)
    definition = statemachine.with_arns(statemachine.load_definition(), plan)
    zips = {module: package.build_zip(module) for module in FUNCTIONS}
    deployment = Deployment(plan, describe(plan, data), dry_run, definition=definition)
    if dry_run:
        return deployment
    _check_image(aws, plan)
    record = records.read(aws.s3, plan.bucket) or records.Record(plan.bucket, plan.region, options.name)
    if record.name != options.name:
        raise AwsError(
            f"s3://{plan.bucket} holds deployment {record.name!r}, not {options.name!r}; "
            f"pass --name {record.name} or use another bucket"
        )
    deployment.record = record
    progress.start("Deploying to AWS", len(deployment.steps))
    _bucket(aws, plan, record)
    _upload_data(aws, plan, record, data, progress)
    _upload(aws, plan, record, plan.model_key, model_bytes)
    progress.advance(2)
    for role in plan.roles:
        _role(aws, plan, record, role)
        progress.advance()
    _sagemaker(aws, plan, record)
    progress.advance(3)
    for module in FUNCTIONS:
        _function(aws, plan, record, module, zips[module])
        progress.advance()
    _state_machine(aws, plan, record, definition)
    progress.advance()
    return deployment


def describe(plan: Plan, data: StagedData) -> list[Step]:
    """The steps of a deployment, in order."""
    o = plan.options
    steps = [
        Step("s3-bucket", plan.bucket, f"create unless it exists ({plan.region})"),
        Step("s3-upload", f"{plan.bucket}/{o.data_prefix}/", f"{len(data.keys)} staged data objects"),
        Step("s3-upload", f"{plan.bucket}/{plan.model_key}", "the model artifact"),
    ]
    for role in plan.roles:
        actions = sorted({a for s in permissions_policy(plan, role)["Statement"] for a in s["Action"]})
        steps.append(Step("iam-role", plan.role_name(role), "allows " + ", ".join(actions)))
    steps += [
        Step("sagemaker-model", plan.model_name, f"image {plan.image_uri}"),
        Step(
            "sagemaker-endpoint-config",
            plan.endpoint_config_name,
            f"{o.instance_count} x {o.instance_type}; data capture 100% to {plan.capture_uri}",
        ),
        Step("sagemaker-endpoint", plan.endpoint_name, plan.endpoint_arn),
    ]
    for module in FUNCTIONS:
        env = ", ".join(f"{k}={v}" for k, v in plan.function_environment(module).items())
        steps.append(Step("lambda-function", plan.function_name(module), f"{package.handler_name(module)}; {env}"))
    steps.append(Step("state-machine", plan.state_machine_name, f"STANDARD; {plan.state_machine_arn}"))
    return steps


# -- checks -------------------------------------------------------------------------------------
def _check_image(aws: Clients, plan: Plan) -> None:
    """Refuse to start when the default serving image has not been pushed yet."""
    if plan.options.image:
        return  # the caller's image; its registry may be anywhere
    tag = plan.image_uri.rsplit(":", 1)[1]
    try:
        with aws_call(f"Looking up the image {plan.image_uri}"):
            aws.ecr.describe_images(repositoryName=plan.repository, imageIds=[{"imageTag": tag}])
    except AwsError as exc:
        if error_code(exc) not in ("RepositoryNotFoundException", "ImageNotFoundException"):
            raise
        raise AwsError(
            f"No serving image {plan.image_uri}. Build and push it: 'scones aws export DIR', then "
            f"'aws ecr create-repository --repository-name {plan.repository}', "
            f"'docker build -t {plan.image_uri} DIR/container' and 'docker push {plan.image_uri}'; "
            "or pass --image URI"
        ) from exc


# -- S3 -----------------------------------------------------------------------------------------
def _bucket(aws: Clients, plan: Plan, record: records.Record) -> None:
    try:
        with aws_call(f"Checking bucket {plan.bucket}"):
            aws.s3.head_bucket(Bucket=plan.bucket)
        exists = True
    except AwsError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    if not exists:
        kwargs: dict[str, Any] = {"Bucket": plan.bucket}
        if plan.region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": plan.region}
        with aws_call(f"Creating bucket {plan.bucket}"):
            aws.s3.create_bucket(**kwargs)
            aws.s3.put_bucket_tagging(
                Bucket=plan.bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in plan.tags.items()]}
            )
        record.bucket_created = True
    records.write(aws.s3, record)


def _remote_etags(aws: Clients, bucket: str, prefix: str) -> dict[str, str]:
    etags: dict[str, str] = {}
    with aws_call(f"Listing s3://{bucket}/{prefix}"):
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                etags[item["Key"]] = item["ETag"].strip('"')
    return etags


def _upload_data(aws: Clients, plan: Plan, record: records.Record, data: StagedData, progress: Progress) -> None:
    """Upload staged objects whose bytes differ from what the bucket holds (like `aws s3 sync`)."""
    prefix = plan.options.data_prefix
    remote = _remote_etags(aws, plan.bucket, f"{prefix}/" if prefix else "")

    def one(key: str) -> str | None:
        body = data.read(key)
        if remote.get(key) == hashlib.md5(body, usedforsecurity=False).hexdigest():
            return None
        with aws_call(f"Uploading s3://{plan.bucket}/{key}"):
            aws.s3.put_object(Bucket=plan.bucket, Key=key, Body=body)
        return key

    with ThreadPoolExecutor(max_workers=8) as pool:  # S3 latency, not CPU, bounds this
        uploaded = [key for key in pool.map(one, data.keys) if key]
    record.uploaded = sorted(set(record.uploaded) | set(uploaded))
    records.write(aws.s3, record)
    logger.info("uploaded %d of %d staged objects", len(uploaded), len(data.keys))


def _upload(aws: Clients, plan: Plan, record: records.Record, key: str, body: bytes) -> None:
    with aws_call(f"Uploading s3://{plan.bucket}/{key}"):
        aws.s3.put_object(Bucket=plan.bucket, Key=key, Body=body)
    record.uploaded = sorted(set(record.uploaded) | {key})
    records.write(aws.s3, record)


# -- IAM ----------------------------------------------------------------------------------------
def _role(aws: Clients, plan: Plan, record: records.Record, role: str) -> None:
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
def _sagemaker(aws: Clients, plan: Plan, record: records.Record) -> None:
    tags = [{"Key": k, "Value": v} for k, v in plan.tags.items()]
    if not record.has("sagemaker-model", plan.model_name):
        container = {
            "Image": plan.image_uri,
            "ModelDataUrl": f"s3://{plan.bucket}/{plan.model_key}",
            "Environment": {"SCONES_HOME": REMOTE_HOME},
        }
        _create(
            aws,
            record,
            "sagemaker-model",
            plan.model_name,
            lambda: _after_role_propagates(
                lambda: aws.sagemaker.create_model(
                    ModelName=plan.model_name,
                    PrimaryContainer=container,
                    ExecutionRoleArn=plan.role_arn("sagemaker"),
                    Tags=tags,
                )
            ),
        )
    if not record.has("sagemaker-endpoint-config", plan.endpoint_config_name):
        _create(
            aws,
            record,
            "sagemaker-endpoint-config",
            plan.endpoint_config_name,
            lambda: aws.sagemaker.create_endpoint_config(
                EndpointConfigName=plan.endpoint_config_name,
                ProductionVariants=[
                    {
                        "VariantName": VARIANT,
                        "ModelName": plan.model_name,
                        "InitialInstanceCount": plan.options.instance_count,
                        "InstanceType": plan.options.instance_type,
                        "InitialVariantWeight": 1.0,
                    }
                ],
                DataCaptureConfig=plan.data_capture_config,
                Tags=tags,
            ),
        )
    if record.has("sagemaker-endpoint", plan.endpoint_name):
        with aws_call(f"Updating endpoint {plan.endpoint_name}"):
            current = aws.sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)["EndpointConfigName"]
            if current != plan.endpoint_config_name:  # SageMaker swaps the model without downtime
                aws.sagemaker.update_endpoint(
                    EndpointName=plan.endpoint_name, EndpointConfigName=plan.endpoint_config_name
                )
        return
    _create(
        aws,
        record,
        "sagemaker-endpoint",
        plan.endpoint_name,
        lambda: aws.sagemaker.create_endpoint(
            EndpointName=plan.endpoint_name, EndpointConfigName=plan.endpoint_config_name, Tags=tags
        ),
    )


# -- Lambda and Step Functions ------------------------------------------------------------------
def _function(aws: Clients, plan: Plan, record: records.Record, module: str, code: bytes) -> None:
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


def _state_machine(aws: Clients, plan: Plan, record: records.Record, definition: dict[str, Any]) -> None:
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
