"""Deployment to AWS: the same pipeline as S3, a SageMaker endpoint, Lambda and Step Functions.

`build_plan` names every resource and policy; `deploy` creates them with boto3 (honouring the
standard AWS credentials and `AWS_ENDPOINT_URL`), recording each one in the bucket so that
`destroy` removes exactly what was made; `export` writes the same artefacts (ASL with ARNs,
IAM policies, Lambda zips, Dockerfile, CloudFormation template) for teams with their own
pipelines.
"""

from __future__ import annotations

from scones.aws.deploy import deploy
from scones.aws.destroy import destroy
from scones.aws.export import export
from scones.aws.plan import AwsOptions, Plan, build_plan

__all__ = ["AwsOptions", "Plan", "build_plan", "deploy", "destroy", "export"]
