"""`scones aws deploy`: the whole pipeline on AWS, from the local data and model artifact.

Order: everything is checked first (model, staged data, functions, state machine, serving
image), then created: bucket and uploads, IAM roles, two CloudWatch rollback alarms per
production variant, the variants' SageMaker models + endpoint config (production variants with
their weights, the shadow if any, data capture 100%) + endpoint (a later deploy of other models
or weights is an UpdateEndpoint with a blue/green DeploymentConfig naming the alarms; deploy waits
for it and fails if it rolled back), each production variant's Application Auto Scaling target
and target-tracking policy, the three Lambda functions, the Step Functions state machine. Each
resource is recorded in the bucket as soon as it exists (`scones.aws.record`), so `destroy`
can undo a deployment that failed half-way. Re-running updates what the record holds.
boto3 reads credentials and `AWS_ENDPOINT_URL` from the environment; nothing here overrides them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scones.aws import package, record as records, resources, rollout, statemachine
from scones.aws.errors import AwsError, aws_call, error_code
from scones.aws.plan import FUNCTIONS, AwsOptions, Plan, build_plan
from scones.aws.policies import permissions_policy
from scones.aws.session import Clients, account_id, clients
from scones.aws.sources import StagedData, load_variants, staged_data
from scones.config import Settings
from scones.endpoint.variants import Variant
from scones.progress import NullProgress, Progress

logger = logging.getLogger(__name__)


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
    variants: Sequence[Variant] = (),
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Deployment:
    """Deploy (or with `dry_run`, only plan) the pipeline described by `options`.

    `variants`: `--variant`/`--shadow` as `scones deploy` parses them; without production variants the
    endpoint serves `model` (default: the latest training job) as the one variant AllTraffic.
    """
    progress = progress or NullProgress()
    served, model_bytes = load_variants(settings, model, variants)
    data = staged_data(settings, options.data_prefix)
    aws = clients(options.region)
    plan = build_plan(options, account_id(aws), served)
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
    for variant in plan.models.values():
        _upload(aws, plan, record, plan.model_key_of(variant), model_bytes[variant.model_sha256])
    progress.advance(2 + len(plan.models))
    for role in plan.roles:
        resources.role(aws, plan, record, role)
        progress.advance()
    resources.alarms(aws, plan, record)  # before the endpoint: an UpdateEndpoint names them
    progress.advance(2 * len(plan.production))
    retired = resources.sagemaker(aws, plan, record)
    try:
        resources.in_service(aws, plan)
    except AwsError:  # rolled back: the variants whose scaling was retired serve again
        resources.restore_scaling(aws, plan, record, retired)
        raise
    progress.advance(len(plan.models) + 2)
    resources.scaling(aws, plan, record)
    progress.advance(2 * len(plan.production))
    for module in FUNCTIONS:
        resources.function(aws, plan, record, module, zips[module])
        progress.advance()
    resources.state_machine(aws, plan, record, definition)
    progress.advance()
    return deployment


def describe(plan: Plan, data: StagedData) -> list[Step]:
    """The steps of a deployment, in order."""
    o = plan.options
    steps = [
        Step("s3-bucket", plan.bucket, f"create unless it exists ({plan.region})"),
        Step("s3-upload", f"{plan.bucket}/{o.data_prefix}/", f"{len(data.keys)} staged data objects"),
        *[Step("s3-upload", f"{plan.bucket}/{plan.model_key_of(v)}", "a model artifact") for v in plan.models.values()],
    ]
    for role in plan.roles:
        actions = sorted({a for s in permissions_policy(plan, role)["Statement"] for a in s["Action"]})
        steps.append(Step("iam-role", plan.role_name(role), "allows " + ", ".join(actions)))
    steps += [
        Step(
            "cloudwatch-alarm",
            alarm["AlarmName"],
            f"{alarm['MetricName']} {alarm.get('ExtendedStatistic') or alarm['Statistic']} > {alarm['Threshold']:g} "
            f"for {alarm['EvaluationPeriods']} x {alarm['Period']}s; rolls an update back",
        )
        for alarm in rollout.alarms(plan)
    ]
    config = resources.update_deployment_config(plan)["BlueGreenUpdatePolicy"]
    steps += [Step("sagemaker-model", name, f"image {plan.image_uri}") for name in plan.models]
    variants = [f"{v['VariantName']} ({v['ModelName']}) weight {v['InitialVariantWeight']:g}"
                for v in plan.production_variants()]  # fmt: skip
    if plan.shadow:
        variants.append(f"shadow {plan.shadow.name} ({plan.model_name_of(plan.shadow)}) "
                        f"mirrors {100 * plan.shadow.weight:g}% of requests")  # fmt: skip
    steps += [
        Step(
            "sagemaker-endpoint-config",
            plan.endpoint_config_name,
            f"{'; '.join(variants)}; {o.instance_count} x {o.instance_type} each; "
            f"data capture 100% to {plan.capture_uri}",
        ),
        Step(
            "sagemaker-endpoint",
            plan.endpoint_name,
            f"{plan.endpoint_arn}; an update shifts traffic {config['TrafficRoutingConfiguration']['Type']}, "
            f"bakes {config['TerminationWaitInSeconds']}s, rolls back on the alarms",
        ),
    ]
    for variant in plan.production:
        target = rollout.scalable_target(plan, variant)
        steps += [
            Step(
                "scalable-target", target["ResourceId"], f"{target['MinCapacity']} to {target['MaxCapacity']} instances"
            ),
            Step(
                "scaling-policy",
                f"{rollout.scaling_policy_name(plan)} on {variant.name}",
                f"TargetTrackingScaling: {o.target_invocations_per_instance:g} SageMakerVariantInvocationsPerInstance",
            ),
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
