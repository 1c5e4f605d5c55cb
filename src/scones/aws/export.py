"""`scones aws export DIR`: deploy's artefacts as files, for teams with their own pipelines.

DIR gets: pipeline.asl.json (ARNs filled in), policies/<role>.json (trust + permissions) and
policies/<name>-deployer-rollout.json (the caller's alarm, blue/green and scaling permissions),
lambda/<function>.zip, container/ (a complete `docker build` context), models/<model>.tar.gz
(one per SageMaker model the variants serve),
template.json (CloudFormation) and a README with the commands that put them in place.
The folder is written beside DIR and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scones.aws import package, statemachine
from scones.aws.container import write_context
from scones.aws.errors import AwsError
from scones.aws.plan import FUNCTIONS, AwsOptions, Plan, build_plan
from scones.aws.policies import all_policies, rollout_policy
from scones.aws.sources import load_variants
from scones.aws.template import code_key, template
from scones.config import Settings
from scones.endpoint.variants import Variant


def export(
    directory: Path,
    options: AwsOptions,
    settings: Settings,
    model: str | None = None,
    account: str | None = None,
    variants: Sequence[Variant] = (),
) -> Plan:
    """Write the artefacts of `options` to `directory` (which must not exist or be empty).

    `model` and `variants` say what the endpoint serves, as for `deploy`.
    """
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise AwsError(f"{directory} exists and is not an empty folder; give a new folder to export to")
    served, model_bytes = load_variants(settings, model, variants)
    if account is None:
        from scones.aws.session import account_id, clients

        account = account_id(clients(options.region))
    plan = build_plan(options, account, served)
    definition = statemachine.with_arns(statemachine.load_definition(), plan)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        _write(staging, plan, definition, model_bytes)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return plan


def _write(root: Path, plan: Plan, definition: dict[str, object], model_bytes: dict[str, bytes]) -> None:
    (root / "pipeline.asl.json").write_text(json.dumps(definition, indent=2) + "\n")
    (root / "policies").mkdir()
    for role_name, documents in all_policies(plan).items():
        (root / "policies" / f"{role_name}.json").write_text(json.dumps(documents, indent=2) + "\n")
    deployer = root / "policies" / f"{plan.options.name}-deployer-rollout.json"  # for the caller, not a role
    deployer.write_text(json.dumps(rollout_policy(plan), indent=2) + "\n")
    (root / "lambda").mkdir()
    for module in FUNCTIONS:
        (root / "lambda" / f"{plan.function_name(module)}.zip").write_bytes(package.build_zip(module))
    write_context(root / "container")
    (root / "models").mkdir()
    for name, variant in plan.models.items():
        (root / "models" / f"{name}.tar.gz").write_bytes(model_bytes[variant.model_sha256])
    (root / "template.json").write_text(json.dumps(template(plan, definition), indent=2) + "\n")
    (root / "README.md").write_text(_readme(plan))


def _readme(plan: Plan) -> str:
    models = "\n".join(
        f"aws s3 cp models/{name}.tar.gz s3://{plan.bucket}/{plan.model_key_of(v)}" for name, v in plan.models.items()
    )
    uploads = "\n".join(
        f"aws s3 cp lambda/{plan.function_name(m)}.zip s3://{plan.bucket}/{code_key(plan, m)}" for m in FUNCTIONS
    )
    return f"""# scones deployment artefacts ({plan.region}, account {plan.account})

Made by `scones aws export`; `scones aws deploy` creates the same resources directly.

1. Serving image (SageMaker runs `IMAGE serve`):
   aws ecr create-repository --repository-name {plan.repository}
   docker build -t {plan.image_uri} container && docker push {plan.image_uri}
2. Data, model and function code:
   aws s3 sync <scones home>/buckets/scones/{plan.options.data_prefix} s3://{plan.bucket}/{plan.options.data_prefix}
{_indent(models)}
{_indent(uploads)}
3. Everything else (roles, endpoint with its variants and data capture, rollback alarms, auto scaling,
   functions, state machine):
   aws cloudformation deploy --template-file template.json --stack-name {plan.options.name} \\
       --capabilities CAPABILITY_NAMED_IAM --region {plan.region}

Files: pipeline.asl.json (the state machine, ARNs filled in), policies/ (each role's trust and
least-privilege permissions; {plan.options.name}-deployer-rollout.json is what the credentials that
create the stack need beyond that for the rollback alarms, the blue/green update and the scaling
policy), lambda/ (one zip per function), container/ (the image's build
context), models/ (one model.tar.gz per SageMaker model), template.json (CloudFormation).
The endpoint serves {_served(plan)}. An idle endpoint costs money: delete
the stack when you are done.
"""


def _served(plan: Plan) -> str:
    listed = [f"{v.name} ({plan.model_name_of(v)}, weight {v.weight:g})" for v in plan.production]
    if plan.shadow:
        listed.append(f"shadow {plan.shadow.name} ({plan.model_name_of(plan.shadow)}, {100 * plan.shadow.weight:g}% "
                      "of requests mirrored)")  # fmt: skip
    return ", ".join(listed)


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
