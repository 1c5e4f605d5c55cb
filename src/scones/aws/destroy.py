"""`scones aws destroy`: remove exactly what deploy recorded in the bucket, newest first.

An idle endpoint bills by the hour, so this is the command to remember. Resources already
gone are skipped; the record shrinks after every deletion, so an interrupted destroy can be
run again. A bucket deploy created is emptied and deleted (with the captured data in it); a
bucket that existed before keeps everything but the objects deploy uploaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scones.aws import record as records
from scones.aws.errors import AwsError, aws_call, error_code
from scones.aws.session import Clients, clients

logger = logging.getLogger(__name__)

_GONE = {
    "NoSuchEntity",
    "ResourceNotFoundException",
    "StateMachineDoesNotExist",
    "RepositoryNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "404",
    "ObjectNotFoundException",  # Application Auto Scaling
}
_VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def pending(bucket: str, region: str) -> records.Record | None:
    """What destroy would remove (the record), or None when nothing is recorded there."""
    return records.read(clients(region).s3, bucket)


def summary(record: records.Record) -> list[str]:
    """One line per thing destroy removes, for the confirmation prompt."""
    lines = [f"{r.kind} {r.name}" for r in reversed(record.resources)]
    if record.bucket_created:
        lines.append(f"s3-bucket {record.bucket} and everything in it (including data_capture/)")
    else:
        lines.append(f"{len(record.uploaded)} objects deploy uploaded to s3://{record.bucket}")
    return lines


def destroy(bucket: str, region: str) -> list[str]:
    """Remove everything the deployment recorded in `bucket`; return what was removed."""
    aws = clients(region)
    record = records.read(aws.s3, bucket)
    if record is None:
        raise AwsError(f"No scones deployment is recorded in s3://{bucket} ({region}); nothing to destroy")
    removed: list[str] = []
    for resource in list(reversed(record.resources)):
        _delete(aws, resource.kind, resource.name)
        record.resources.remove(resource)
        records.write(aws.s3, record)
        removed.append(f"{resource.kind} {resource.name}")
    if record.bucket_created:
        _delete_bucket(aws, bucket)
        removed.append(f"s3-bucket {bucket}")
    else:
        _delete_keys(aws, bucket, [*record.uploaded, records.RECORD_KEY])
        removed.append(f"{len(record.uploaded)} uploaded objects")
    return removed


def _delete(aws: Clients, kind: str, name: str) -> None:
    deleters: dict[str, Callable[[], Any]] = {
        "state-machine": lambda: aws.stepfunctions.delete_state_machine(stateMachineArn=name),
        "lambda-function": lambda: aws.awslambda.delete_function(FunctionName=name),
        "sagemaker-endpoint": lambda: aws.sagemaker.delete_endpoint(EndpointName=name),
        "sagemaker-endpoint-config": lambda: aws.sagemaker.delete_endpoint_config(EndpointConfigName=name),
        "sagemaker-model": lambda: aws.sagemaker.delete_model(ModelName=name),
        "iam-role": lambda: _delete_role(aws, name),
        "ecr-repository": lambda: aws.ecr.delete_repository(repositoryName=name, force=True),
        "cloudwatch-alarm": lambda: aws.cloudwatch.delete_alarms(AlarmNames=[name]),
        "scalable-target": lambda: aws.autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=name, ScalableDimension=_VARIANT_DIMENSION
        ),
        "scaling-policy": lambda: aws.autoscaling.delete_scaling_policy(
            PolicyName=name.split("|", 1)[1],
            ServiceNamespace="sagemaker",
            ResourceId=name.split("|", 1)[0],
            ScalableDimension=_VARIANT_DIMENSION,
        ),
    }
    if kind not in deleters:
        raise AwsError(f"The record lists a {kind} ({name}) this scones cannot remove; remove it by hand")
    try:
        with aws_call(f"Deleting {kind} {name}"):
            deleters[kind]()
    except AwsError as exc:
        message = str(exc).lower()  # moto answers a missing scalable target with a ValidationException
        if error_code(exc) not in _GONE and "could not find" not in message and "no scalable target" not in message:
            raise
        logger.info("%s %s was already gone", kind, name)


def _delete_role(aws: Clients, name: str) -> None:
    for policy in aws.iam.list_role_policies(RoleName=name)["PolicyNames"]:
        aws.iam.delete_role_policy(RoleName=name, PolicyName=policy)
    aws.iam.delete_role(RoleName=name)


def _delete_keys(aws: Clients, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        with aws_call(f"Deleting objects in s3://{bucket}"):
            aws.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _delete_bucket(aws: Clients, bucket: str) -> None:
    with aws_call(f"Emptying s3://{bucket}"):
        keys = [
            item["Key"]
            for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        ]
    _delete_keys(aws, bucket, keys)
    with aws_call(f"Deleting bucket {bucket}"):
        aws.s3.delete_bucket(Bucket=bucket)
