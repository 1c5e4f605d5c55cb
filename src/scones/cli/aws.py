"""`scones aws deploy|destroy|export`: the pipeline on AWS (thin: parse, call scones.aws, print)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar
from scones.config import DEFAULT_ENDPOINT_NAME

if TYPE_CHECKING:
    from scones.aws.plan import AwsOptions
    from scones.endpoint.variants import Variant

Bucket = Annotated[str, typer.Option("--bucket", help="The S3 bucket of the deployment (created if missing).")]
Region = Annotated[str, typer.Option("--region", help="The AWS region.")]
Name = Annotated[str, typer.Option("--name", help="Prefix of role, function and state machine names.")]
Model = Annotated[
    str | None,
    typer.Option("--model", help="model.tar.gz, its folder, an s3:// URI or a training job (default: the latest)."),
]
Variants = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        help="A production variant NAME=MODEL[:WEIGHT] (repeat for several, up to 5; traffic splits by weight); "
        "instead of --model.",
        show_default=False,
    ),
]
Shadow = Annotated[
    str | None,
    typer.Option(
        "--shadow",
        help="A shadow variant NAME=MODEL[:PERCENT] (ShadowProductionVariants): gets a copy of PERCENT (default "
        "100) of requests; its answers never reach the caller.",
        show_default=False,
    ),
]
EndpointName = Annotated[str, typer.Option("--endpoint-name", help="The SageMaker endpoint's name.")]
Image = Annotated[
    str | None, typer.Option("--image", help="Serving image URI (default: <account>.dkr.ecr...<name>-serve:VERSION).")
]
InstanceType = Annotated[str, typer.Option("--instance-type", help="The endpoint's instance type.")]
DataPrefix = Annotated[str, typer.Option("--data-prefix", help="Where the staged data is, locally and in the bucket.")]
Strategy = Annotated[
    str, typer.Option(help="How a later UpdateEndpoint shifts traffic: all-at-once, canary or linear (auto rollback).")
]
CanaryPercent = Annotated[float, typer.Option(help="Canary: the new fleet's share of capacity first.")]
LinearStep = Annotated[float, typer.Option(help="Linear: the share of capacity added at each step.")]
IntervalSeconds = Annotated[int, typer.Option(help="Seconds per canary or linear step (0-3600).")]
BakeSeconds = Annotated[int, typer.Option(help="Seconds at 100% before the old fleet goes (0-3600).")]
InstanceCount = Annotated[int, typer.Option(help="The endpoint's instances, and the scaling minimum.")]
MaxInstances = Annotated[int, typer.Option(help="Target tracking: the most instances.")]
TargetInvocations = Annotated[
    float, typer.Option(help="Target tracking: invocations per instance per minute (SageMakerVariantInvocationsPer"
                        "Instance).")
]  # fmt: skip


def _options(
    bucket: str,
    region: str,
    name: str,
    endpoint_name: str,
    image: str | None,
    instance_type: str,
    data_prefix: str,
    **rollout: object,
) -> AwsOptions:
    from scones.aws import AwsOptions

    settings = _common.settings()
    return AwsOptions(
        bucket=bucket,
        region=region,
        name=name,
        endpoint_name=endpoint_name,
        image=image,
        instance_type=instance_type,
        data_prefix=data_prefix,
        threshold=settings.threshold,
        **rollout,  # type: ignore[arg-type]
    )


def _variants(variant: list[str] | None, shadow: str | None) -> list[Variant]:
    """`--variant`/`--shadow` as `scones deploy` parses them."""
    from scones.endpoint import variants

    specs = [variants.parse(v) for v in variant or []]
    return [*specs, variants.parse_shadow(shadow)] if shadow else specs


def deploy_command(
    bucket: Bucket,
    region: Region,
    model: Model = None,
    variant: Variants = None,
    shadow: Shadow = None,
    name: Name = "scones",
    endpoint_name: EndpointName = DEFAULT_ENDPOINT_NAME,
    image: Image = None,
    instance_type: InstanceType = "ml.m5.large",
    data_prefix: DataPrefix = "data",
    strategy: Strategy = "canary",
    canary_percent: CanaryPercent = 10.0,
    linear_step: LinearStep = 25.0,
    interval_seconds: IntervalSeconds = 300,
    bake_seconds: BakeSeconds = 300,
    instance_count: InstanceCount = 1,
    max_instances: MaxInstances = 4,
    target_invocations_per_instance: TargetInvocations = 200.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; create nothing.")] = False,
) -> None:
    """Deploy the pipeline to AWS: S3 data + models, SageMaker endpoint (production variants, shadow, data
    capture), rollback alarms, target-tracking scaling, Lambdas, state machine."""
    from scones.aws import deploy

    options = _options(
        bucket, region, name, endpoint_name, image, instance_type, data_prefix, strategy=strategy,
        canary_percent=canary_percent, linear_step=linear_step, interval_seconds=interval_seconds,
        bake_seconds=bake_seconds, instance_count=instance_count, max_instances=max_instances,
        target_invocations_per_instance=target_invocations_per_instance,
    )  # fmt: skip
    with progress_bar() as bar:
        result = deploy(
            options, _common.settings(), model, variants=_variants(variant, shadow), dry_run=dry_run, progress=bar
        )
    verb = "Would create or update" if dry_run else "Deployed"
    _common.out.print(f"{verb} in account {result.plan.account}, {result.plan.region}:", highlight=False)
    for step in result.steps:
        _common.out.print(
            f"  {step.kind:26} {step.name}\n  {'':26} {step.detail}", markup=False, highlight=False, soft_wrap=True
        )
    if not dry_run:
        _common.out.print(
            f"Endpoint {result.plan.endpoint_name} is starting (minutes on AWS; it bills while it runs). "
            f"Remove everything with: scones aws destroy --bucket {bucket} --region {region}",
            markup=False,
            soft_wrap=True,
        )


def destroy_command(
    bucket: Bucket,
    region: Region,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")] = False,
) -> None:
    """Remove everything 'scones aws deploy' made in this bucket and region (idle endpoints cost money)."""
    from scones.aws import destroy
    from scones.aws.destroy import pending, summary
    from scones.aws.errors import AwsError

    record = pending(bucket, region)
    if record is None:
        raise AwsError(f"No scones deployment is recorded in s3://{bucket} ({region}); nothing to destroy")
    _common.out.print(f"This removes from {region}:", highlight=False)
    for line in summary(record):
        _common.out.print(f"  {line}", markup=False, highlight=False)
    if not yes and not typer.confirm("Delete all of this?", default=False):
        _common.err.print("Nothing deleted.")
        raise typer.Exit(1)
    removed = destroy(bucket, region)
    _common.out.print(f"Removed {len(removed)} resources.", highlight=False)


def export_command(
    directory: Annotated[Path, typer.Argument(help="An empty or new folder for the artefacts.")],
    bucket: Bucket = "scones",
    region: Region = "us-east-1",
    account: Annotated[
        str | None, typer.Option("--account", help="AWS account id (default: ask STS with your credentials).")
    ] = None,
    model: Model = None,
    variant: Variants = None,
    shadow: Shadow = None,
    name: Name = "scones",
    endpoint_name: EndpointName = DEFAULT_ENDPOINT_NAME,
    image: Image = None,
    instance_type: InstanceType = "ml.m5.large",
    data_prefix: DataPrefix = "data",
    strategy: Strategy = "canary",
    canary_percent: CanaryPercent = 10.0,
    linear_step: LinearStep = 25.0,
    interval_seconds: IntervalSeconds = 300,
    bake_seconds: BakeSeconds = 300,
    instance_count: InstanceCount = 1,
    max_instances: MaxInstances = 4,
    target_invocations_per_instance: TargetInvocations = 200.0,
) -> None:
    """Write the deployment's artefacts (ASL with ARNs, policies, Lambda zips, Dockerfile, CloudFormation)."""
    from scones.aws import export

    options = _options(
        bucket, region, name, endpoint_name, image, instance_type, data_prefix, strategy=strategy,
        canary_percent=canary_percent, linear_step=linear_step, interval_seconds=interval_seconds,
        bake_seconds=bake_seconds, instance_count=instance_count, max_instances=max_instances,
        target_invocations_per_instance=target_invocations_per_instance,
    )  # fmt: skip
    plan = export(directory, options, _common.settings(), model, account, variants=_variants(variant, shadow))
    _common.out.print(
        f"Wrote the artefacts for account {plan.account}, {plan.region} to {directory}; see {directory / 'README.md'}",
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add `scones aws ...` to the root app."""
    aws = typer.Typer(help="Deploy the pipeline to AWS, export its artefacts, or remove it.", no_args_is_help=True)
    aws.command("deploy")(deploy_command)
    aws.command("destroy")(destroy_command)
    aws.command("export")(export_command)
    app.add_typer(aws, name="aws")
