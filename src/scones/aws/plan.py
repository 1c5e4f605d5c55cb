"""The deployment plan: every AWS name and ARN, derived once from the options.

Deploy, destroy, export and the CloudFormation template all read the same `Plan`, so a name
or ARN has exactly one definition. IAM role names are global to an account, so they carry
the region; endpoint, model and function names are regional.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scones import __version__
from scones.aws.errors import AwsError
from scones.config import DEFAULT_ENDPOINT_NAME, DEFAULT_THRESHOLD
from scones.endpoint.capture import DEFAULT_VARIANT
from scones.endpoint.variants import Variant, check
from scones.keys import validate_bucket, validate_prefix

# The three Lambda functions, by module (the contract of stage 3), in pipeline order.
FUNCTIONS = ("serialize_image_data", "classify_image", "filter_inferences")
TAG_KEY = "scones:deployment"  # every resource deploy makes carries this tag
VARIANT = DEFAULT_VARIANT  # SageMaker's default production variant, the one `--model` alone deploys
CAPTURE_PREFIX = "data_capture"
# SageMaker's AutoRollbackConfiguration takes at most 10 alarms; each production variant has two.
MAX_AWS_VARIANTS = 5
# Inside Lambda and the serving container only /tmp is writable (a private sandbox, not shared /tmp).
REMOTE_HOME = "/tmp/scones"  # noqa: S108

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_ENDPOINT = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,53}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@dataclass(frozen=True)
class AwsOptions:
    """What a deployment is made of.

    Attributes:
        bucket: the S3 bucket for data, the model, captured data and the deployment record.
        region: the AWS region.
        name: the prefix of role, function, repository and state machine names (<= 20 chars).
        endpoint_name: the SageMaker endpoint the classify function calls.
        instance_type / instance_count: the endpoint's instances.
        image: the serving image URI; None means `<account>.dkr.ecr.<region>.amazonaws.com/<name>-serve:<version>`.
        data_prefix: where the staged data lives in the bucket (stage 1's layout).
        threshold: the confidence the filter function requires.
        lambda_runtime: the Lambda Python runtime (boto3 comes with it).
        strategy / canary_percent / linear_step / interval_seconds / bake_seconds: how a later UpdateEndpoint
            shifts traffic (the endpoint's DeploymentConfig), as `scones update-endpoint --strategy` does locally.
        max_instances / target_invocations_per_instance: target-tracking scaling from `instance_count` up
            to `max_instances` on SageMakerVariantInvocationsPerInstance (per minute), as
            `scones deploy --max-workers --target-invocations-per-worker` does locally.
    """

    bucket: str
    region: str
    name: str = "scones"
    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    image: str | None = None
    data_prefix: str = "data"
    threshold: float = DEFAULT_THRESHOLD
    lambda_runtime: str = "python3.12"
    strategy: str = "canary"
    canary_percent: float = 10.0
    linear_step: float = 25.0
    interval_seconds: int = 300
    bake_seconds: int = 300
    max_instances: int = 4
    target_invocations_per_instance: float = 200.0

    def __post_init__(self) -> None:
        validate_bucket(self.bucket)
        validate_prefix(self.data_prefix)
        if not _REGION.match(self.region):
            raise AwsError(f"Region {self.region!r} is not an AWS region name; give one such as us-east-1")
        if not _NAME.match(self.name):
            raise AwsError(f"Name {self.name!r}: use 1-20 lowercase letters, digits or hyphens, starting with a letter")
        if not _ENDPOINT.match(self.endpoint_name):
            raise AwsError(f"Endpoint name {self.endpoint_name!r}: use up to 54 letters, digits or hyphens")
        if self.instance_count < 1:
            raise AwsError(f"Instance count {self.instance_count}: give at least 1")
        if self.strategy not in ("all-at-once", "canary", "linear"):
            raise AwsError(f"Strategy {self.strategy!r} is not one of all-at-once, canary, linear")
        for label, value in (("--canary-percent", self.canary_percent), ("--linear-step", self.linear_step)):
            if not 0 < value < 100:
                raise AwsError(f"{label} is {value:g}; give a share of capacity between 0 and 100 (exclusive)")
        for label, seconds in (("--interval-seconds", self.interval_seconds), ("--bake-seconds", self.bake_seconds)):
            if not 0 <= seconds <= 3600:
                raise AwsError(f"{label} is {seconds}; SageMaker takes 0 to 3600 seconds")
        if not self.instance_count <= self.max_instances <= 100:
            raise AwsError(f"--max-instances is {self.max_instances}; give {self.instance_count} (the minimum) to 100")
        if self.target_invocations_per_instance <= 0:
            raise AwsError("--target-invocations-per-instance must be more than 0 (invocations per minute)")


@dataclass(frozen=True)
class Plan:
    """Names and ARNs of one deployment in one account.

    `variants` are what the endpoint serves, as `scones deploy --variant/--shadow` parse them: the
    production variants (name, model, initial weight), then at most one shadow (its weight is the share
    of requests mirrored to it, 0-1); each carries its model's sha256, whose first 8 hex digits tell
    model versions apart.
    """

    options: AwsOptions
    account: str
    variants: tuple[Variant, ...]

    # -- basics ----------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self.options.region

    @property
    def bucket(self) -> str:
        return self.options.bucket

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    def arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account if account else ''}:{resource}"

    def bucket_arn(self, key_pattern: str = "") -> str:
        return self.arn(
            "s3", f"{self.bucket}/{key_pattern}" if key_pattern else self.bucket, regional=False, account=False
        )

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_KEY: f"{self.options.name}/{self.bucket}/{self.region}"}

    # -- S3 ---------------------------------------------------------------------------------
    @property
    def capture_uri(self) -> str:
        return f"s3://{self.bucket}/{CAPTURE_PREFIX}"

    @property
    def data_capture_config(self) -> dict[str, object]:
        """Capture every request and response to s3://bucket/data_capture (the seed's 100%)."""
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": self.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        }

    # -- image ------------------------------------------------------------------------------
    @property
    def repository(self) -> str:
        return f"{self.options.name}-serve"

    @property
    def image_uri(self) -> str:
        if self.options.image:
            return self.options.image
        suffix = ".amazonaws.com.cn" if self.partition == "aws-cn" else ".amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}{suffix}/{self.repository}:{__version__}"

    @property
    def ecr_repository_arn(self) -> str | None:
        """The ECR repository the image is pulled from, when it is an ECR image (else None)."""
        match = re.match(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)", self.image_uri)
        if not match:
            return None
        account, region, repo = match.groups()
        return f"arn:{self.partition}:ecr:{region}:{account}:repository/{repo}"

    # -- SageMaker --------------------------------------------------------------------------
    @property
    def endpoint_name(self) -> str:
        return self.options.endpoint_name

    @property
    def production(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if not v.shadow)

    @property
    def shadow(self) -> Variant | None:
        return next((v for v in self.variants if v.shadow), None)

    @property
    def model_id(self) -> str:
        """The first production variant's model (the one model of a one-variant deployment)."""
        return self.production[0].model_sha256[:8]

    def model_name_of(self, variant: Variant) -> str:
        return f"{self.endpoint_name}-{variant.model_sha256[:8]}"

    def model_key_of(self, variant: Variant) -> str:
        return f"models/{self.model_name_of(variant)}/model.tar.gz"

    @property
    def model_name(self) -> str:
        return self.model_name_of(self.production[0])

    @property
    def model_key(self) -> str:
        return self.model_key_of(self.production[0])

    @property
    def models(self) -> dict[str, Variant]:
        """Each distinct SageMaker model, by name, with the first variant that serves it."""
        found: dict[str, Variant] = {}
        for variant in self.variants:
            found.setdefault(self.model_name_of(variant), variant)
        return found

    @property
    def endpoint_config_name(self) -> str:
        """New models, weights or variants make a new config (an update); one AllTraffic variant: its model's id."""
        if len(self.variants) == 1 and self.variants[0].name == VARIANT:
            return f"{self.endpoint_name}-{self.model_id}"
        spec = json.dumps([[v.name, v.model_sha256, v.weight, v.shadow] for v in self.variants])
        return f"{self.endpoint_name}-{hashlib.sha256(spec.encode()).hexdigest()[:8]}"

    def production_variants(self) -> list[dict[str, object]]:
        """CreateEndpointConfig's ProductionVariants (= the AWS::SageMaker::EndpointConfig property)."""
        return [self._variant(v, v.weight) for v in self.production]

    def shadow_variants(self) -> list[dict[str, object]]:
        """ShadowProductionVariants: SageMaker mirrors the shadow's weight over the production weights' sum."""
        total = sum(v.weight for v in self.production)
        return [self._variant(v, round(v.weight * total, 6)) for v in self.variants if v.shadow]

    def _variant(self, variant: Variant, weight: float) -> dict[str, object]:
        return {
            "VariantName": variant.name,
            "ModelName": self.model_name_of(variant),
            "InitialInstanceCount": self.options.instance_count,
            "InstanceType": self.options.instance_type,
            "InitialVariantWeight": weight,
        }

    @property
    def endpoint_arn(self) -> str:
        return self.arn("sagemaker", f"endpoint/{self.endpoint_name.lower()}")  # SageMaker ARNs are lowercase

    # -- Lambda and Step Functions ----------------------------------------------------------
    def function_name(self, module: str) -> str:
        return f"{self.options.name}-{module.replace('_', '-')}"

    def function_arn(self, module: str) -> str:
        return self.arn("lambda", f"function:{self.function_name(module)}")

    def function_environment(self, module: str) -> dict[str, str]:
        """What each function reads from its environment on Lambda."""
        common = {"SCONES_STORAGE": "s3", "SCONES_HOME": REMOTE_HOME}
        if module == "classify_image":
            return {**common, "SCONES_ENDPOINT_MODE": "sagemaker", "SCONES_ENDPOINT_NAME": self.endpoint_name}
        if module == "filter_inferences":
            return {**common, "SCONES_THRESHOLD": repr(self.options.threshold)}
        return common

    @property
    def state_machine_name(self) -> str:
        return f"{self.options.name}-pipeline"

    @property
    def state_machine_arn(self) -> str:
        return self.arn("states", f"stateMachine:{self.state_machine_name}")

    # -- IAM --------------------------------------------------------------------------------
    def role_name(self, role: str) -> str:
        """`role` is 'sagemaker', 'states' or a function module."""
        return f"{self.options.name}-{self.region}-{role.replace('_', '-')}"[:64]

    def role_arn(self, role: str) -> str:
        return self.arn("iam", f"role/{self.role_name(role)}", regional=False)

    @property
    def roles(self) -> tuple[str, ...]:
        return ("sagemaker", *FUNCTIONS, "states")


def build_plan(options: AwsOptions, account: str, models: str | Sequence[Variant]) -> Plan:
    """The plan for `options` in `account`.

    `models`: the variants with their models' sha256 (`variants.check`'s rules), or one sha256 for the
    one variant AllTraffic serving that model.
    """
    if not re.match(r"^\d{12}$", account):
        raise AwsError(f"Account {account!r} is not a 12-digit AWS account id")
    served = (Variant(VARIANT, "model", 1.0, models),) if isinstance(models, str) else tuple(models)
    for variant in served:
        if not re.match(r"^[0-9a-f]{8,}$", variant.model_sha256):
            raise AwsError("The model's manifest has no sha256; re-export the model with 'scones train'")
    check(served)
    if sum(not v.shadow for v in served) > MAX_AWS_VARIANTS:
        raise AwsError(
            f"At most {MAX_AWS_VARIANTS} production variants on AWS: an update's automatic rollback takes at most "
            "10 CloudWatch alarms, two per variant"
        )
    return Plan(options=options, account=account, variants=served)
