"""boto3 clients for one region, made once per command.

boto3 reads the credentials (env, profile, instance role) and `AWS_ENDPOINT_URL` /
`AWS_ENDPOINT_URL_<SERVICE>` itself; scones passes only the region, so any AWS-compatible
endpoint (moto, LocalStack) works without scones knowing about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scones.aws.errors import aws_call


@dataclass(frozen=True)
class Clients:
    region: str
    s3: Any
    iam: Any
    sts: Any
    ecr: Any
    sagemaker: Any
    awslambda: Any
    stepfunctions: Any
    cloudwatch: Any
    autoscaling: Any  # application-autoscaling (SageMaker variants), not EC2 Auto Scaling


def clients(region: str) -> Clients:
    import boto3

    session = boto3.session.Session(region_name=region)
    return Clients(
        region=region,
        s3=session.client("s3"),
        iam=session.client("iam"),
        sts=session.client("sts"),
        ecr=session.client("ecr"),
        sagemaker=session.client("sagemaker"),
        awslambda=session.client("lambda"),
        stepfunctions=session.client("stepfunctions"),
        cloudwatch=session.client("cloudwatch"),
        autoscaling=session.client("application-autoscaling"),
    )


def account_id(aws: Clients) -> str:
    """The account the credentials belong to (a read-only call)."""
    with aws_call("Asking STS which AWS account the credentials belong to"):
        return str(aws.sts.get_caller_identity()["Account"])
