"""`scones retrain NAME`: a candidate trained on the newest reviewed dataset, compared, registered, maybe rolled out.

1. Train on the newest version `scones dataset add-reviewed` staged for endpoint NAME, warm-started
   from the model NAME serves (its backbone; a new head) when that model carries its weights and
   hyperparameters, so it costs minutes; else a full training. The best epoch is chosen on a
   stratified share carved from the version's training split, never on a test split.
2. Evaluate candidate and current side by side on the original test split and on `reviewed-test`.
3. Register the candidate (model registry, PendingManualApproval) with that comparison.
4. Roll it out by the guarded deployment (canary by default) only when it beats the current
   model on reviewed-test by `margin` and is not worse on the test split by more than
   `tolerance`; a completed rollout approves the package, a rollback rejects it. Otherwise the
   package stays PendingManualApproval and the decision says why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scones.config import Settings
from scones.data.dataset import format_lst, parse_lst, read_manifest
from scones.endpoint import registry
from scones.endpoint.deployments import Strategy, deploy_model
from scones.endpoint.guardrails import Triggers
from scones.errors import ConfigError, DataError
from scones.keys import join_key, parse_s3_uri
from scones.loop.versions import REVIEWED_TEST, newest_version
from scones.model import artifact as artifact_module, packages
from scones.model.channels import Channels
from scones.model.evaluate import Evaluation, evaluate, resolve_model
from scones.model.hyperparameters import NAMES, parse
from scones.progress import NullProgress, Progress
from scones.storage import Store


@dataclass(frozen=True)
class Gates:
    """When a candidate may replace the current model (accuracies as fractions)."""

    margin: float = 0.02  # candidate minus current accuracy on reviewed-test must be at least this
    tolerance: float = 0.01  # current minus candidate accuracy on the original test split may be at most this

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= 1 or not 0 <= self.tolerance <= 1:
            raise ConfigError(
                f"--margin {self.margin} and --tolerance {self.tolerance} must be accuracy differences in [0, 1]"
            )


@dataclass(frozen=True)
class RetrainOptions:
    """How `retrain` trains, judges and rolls out (defaults: a short warm start, canary 10%)."""

    dataset: str | None = None  # default: the endpoint's newest reviewed version
    epochs: int = 24  # warm start; a cold start uses the current model's own epochs
    backbone_lr_factor: float = 1.0  # warm start: every layer learns at the full rate (night images need it)
    validation_share: float = 0.1  # of the training split, per class, to choose the epoch on
    gates: Gates = field(default_factory=Gates)
    deploy: bool = True
    strategy: Strategy = field(default_factory=lambda: Strategy("canary", 10.0))
    # No disagreement trigger: a candidate retrained on reviewed traffic is meant to answer differently
    # where the current model was wrong; errors, latency and low confidence still roll it back.
    triggers: Triggers = field(default_factory=lambda: Triggers(compare_share=0.0))
    group: str | None = None  # model package group; default: the endpoint's name
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs} must be at least 1")
        if not 0 < self.backbone_lr_factor <= 1:
            raise ConfigError(f"--backbone-lr-factor {self.backbone_lr_factor} must be in (0, 1], e.g. 1 or 0.1")
        if not 0 < self.validation_share < 1:
            raise ConfigError(f"--validation-share {self.validation_share} must be a fraction in (0, 1), e.g. 0.1")


def decide(current: dict[str, Evaluation], candidate: dict[str, Evaluation], gates: Gates) -> tuple[bool, str]:
    """(deploy?, why): better on reviewed-test by the margin and not worse on test beyond the tolerance."""
    gain = candidate[REVIEWED_TEST].accuracy - current[REVIEWED_TEST].accuracy
    loss = current["test"].accuracy - candidate["test"].accuracy
    figures = (
        f"reviewed-test {current[REVIEWED_TEST].accuracy:.4f} -> {candidate[REVIEWED_TEST].accuracy:.4f}, "
        f"test {current['test'].accuracy:.4f} -> {candidate['test'].accuracy:.4f}"
    )
    if gain < gates.margin:
        return False, f"not better on {REVIEWED_TEST} by the margin {gates.margin:.4f} ({figures})"
    if loss > gates.tolerance:
        return False, f"worse on the test split beyond the tolerance {gates.tolerance:.4f} ({figures})"
    return True, f"better on {REVIEWED_TEST} by {gain:+.4f}, test within tolerance ({figures})"


def retrain(
    settings: Settings,
    endpoint: str,
    options: RetrainOptions | None = None,
    progress: Progress | None = None,
    on_phase: Any = None,
) -> dict[str, Any]:
    """Train, compare, register and (when the gates pass) roll out a candidate for `endpoint`; the result as JSON."""
    from scones.model.train import train

    options = options or RetrainOptions()
    progress = progress or NullProgress()
    store = Store(settings)
    served = registry.in_service(settings, endpoint)
    current = resolve_model(settings, served.model)
    art = artifact_module.load(current, store)
    dataset = (options.dataset or newest_version(settings, endpoint) or "").rstrip("/")
    if not dataset:
        raise DataError(f"No reviewed dataset for {endpoint}; run 'scones dataset add-reviewed {endpoint}' first")
    manifest = read_manifest(store, dataset)
    if [str(c) for c in manifest["classes"]] != art.classes:
        raise DataError(
            f"{dataset} has classes {', '.join(map(str, manifest['classes']))} but {endpoint}'s model knows "
            f"{', '.join(art.classes)}; retrain on a dataset staged with the model's classes"
        )
    counts = manifest.get("counts", {})
    if not counts.get("test"):
        raise DataError(
            f"{dataset} has no test split to judge a candidate on; stage data with one ('scones stage'), "
            f"then add the reviews to it ('scones dataset add-reviewed {endpoint} --parent ...')"
        )
    if not counts.get(REVIEWED_TEST):
        raise DataError(
            f"{dataset} has no {REVIEWED_TEST} split to judge a candidate on: 'scones dataset add-reviewed' holds "
            "out --test-share (default 0.2) of each class's newly labelled images, rounded, so none of a class "
            f"labelled once or twice; label three or more of a class and run 'scones dataset add-reviewed {endpoint}' "
            "again, or give it a larger --test-share (0.5 holds one of two out)"
        )
    name = f"retrain-{endpoint}"[:44] + time.strftime("-%Y%m%d-%H%M%S", time.gmtime())
    hp, warm = _hyperparameters(art, current, options, len(art.classes))
    channels = _carve(store, dataset, settings.bucket, name, options.validation_share, options.seed, art.classes)
    started = time.monotonic()
    job = train(settings, hp, channels, name=name, progress=progress, store=store)
    seconds = time.monotonic() - started
    if job["status"] != "Completed" or not job.get("artifact_uri"):
        raise DataError(f"Training job {name} ended {job['status']} ({job.get('failure_reason')}); nothing registered")
    candidate = job["artifact_uri"]
    splits = {"test": f"{dataset}/test", REVIEWED_TEST: f"{dataset}/{REVIEWED_TEST}"}
    before = {s: evaluate(settings, current, u, f"{u}.lst", store=store, progress=progress) for s, u in splits.items()}
    after = {s: evaluate(settings, candidate, u, f"{u}.lst", store=store, progress=progress) for s, u in splits.items()}
    go, why = decide(before, after, options.gates)
    comparison = {s: {"current": before[s].accuracy, "candidate": after[s].accuracy} for s in splits}
    package = packages.register(
        settings, candidate, group=options.group or _group(endpoint), data=splits["test"],
        description=f"retrained for {endpoint} on {dataset}: {why}",
    )  # fmt: skip
    result: dict[str, Any] = {
        "endpoint": endpoint,
        "dataset": dataset,
        "current": {"model": current, "evaluation": {s: e.as_dict() for s, e in before.items()}},
        "candidate": {
            "model": candidate, "training_job": name, "warm_start": warm, "epochs": hp.epochs,
            "training_seconds": round(seconds, 1), "package": package.arn,
            "evaluation": {s: e.as_dict() for s, e in after.items()},
        },
        "comparison": comparison,
        "decision": {"deploy": go and options.deploy, "passed_gates": go, "reason": why,
                     "margin": options.gates.margin, "tolerance": options.gates.tolerance},
    }  # fmt: skip
    if not go or not options.deploy:
        if go:
            result["decision"]["reason"] = f"{why}; not deployed (--no-deploy)"
        result["decision"]["status"] = "PendingManualApproval"
        return result
    deployment = deploy_model(
        settings, endpoint, package.artifact, options.strategy, options.triggers, on_phase=on_phase
    )
    status = "Approved" if deployment.status == "Completed" else "Rejected"
    packages.set_status(
        settings, package.group, package.version, status, f"rollout {deployment.id}: {deployment.status}"
    )
    result["decision"].update({"status": status, "deployment": deployment.id, "rollout": deployment.status})
    if deployment.status != "Completed":
        trigger = deployment.phases[-1].get("trigger") if deployment.phases else None
        result["decision"]["reason"] = f"{why}; but the rollout was rolled back ({trigger})"
    return result


def _group(endpoint: str) -> str:
    if packages.GROUP_PATTERN.match(endpoint):
        return endpoint
    return packages.DEFAULT_GROUP


def _hyperparameters(art: Any, current: str, options: RetrainOptions, classes: int) -> tuple[Any, bool]:
    """The current model's hyperparameters, warm-started from its weights when it has them; (hp, warm?)."""
    known = {k: v for k, v in art.manifest.hyperparameters.items() if k in NAMES and v is not None}
    known.pop("num_training_samples", None)  # the new version has more images
    known.pop("checkpoint_frequency", None)
    known["num_classes"] = classes
    if art.weights is None or not art.manifest.hyperparameters:
        known.update(use_pretrained_model=0, pretrained_weights=None)
        return parse({k: v for k, v in known.items() if v is not None}), False
    known.update(
        epochs=options.epochs,
        warmup_epochs=min(int(known.get("warmup_epochs", 1)), 1),
        use_pretrained_model=1,
        pretrained_weights=current,
        lr_scheduler_step=None,
        early_stopping=False,
    )
    known["backbone_lr_factor"] = options.backbone_lr_factor
    return parse({k: v for k, v in known.items() if v is not None}), True


def _carve(store: Store, dataset: str, bucket: str, name: str, share: float, seed: int, classes: list[str]) -> Channels:
    """Channels on the version's train split, minus a stratified `share` kept to choose the epoch on.

    The carved lists get a manifest.json of their own naming `classes`: training reads the class names
    beside train.lst, and without one a candidate would be named bicycle, motorcycle or class_<i>.
    """
    data_bucket, prefix = parse_s3_uri(dataset)
    entries = parse_lst(store.get(data_bucket, join_key(prefix, "train.lst")).decode("utf-8"), f"{dataset}/train.lst")
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for label in sorted({e.label for e in entries}):
        members = [i for i, e in enumerate(entries) if e.label == label]
        take = min(max(round(len(members) * share), 1), len(members) - 1)
        held.update(members[i] for i in rng.permutation(len(members))[:take])
    keep = [e for i, e in enumerate(entries) if i not in held]
    carved = [e for i, e in enumerate(entries) if i in held]
    base = f"loop/{name}"
    store.put(bucket, f"{base}/train.lst", format_lst(keep).encode())
    store.put(bucket, f"{base}/validation.lst", format_lst(carved).encode())
    store.put(bucket, f"{base}/manifest.json", json.dumps({"classes": classes, "carved_from": dataset}).encode())
    return Channels(
        train=f"{dataset}/train",
        validation=f"{dataset}/train",
        train_lst=f"s3://{bucket}/{base}/train.lst",
        validation_lst=f"s3://{bucket}/{base}/validation.lst",
    )
