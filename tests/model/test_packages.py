"""The model registry: versions, the immutable copy, the recorded evaluation, approval, and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.errors import ArtifactError, ConfigError, TrainingError
from scones.model import jobs, packages
from scones.model.artifact import load
from scones.storage import Store
from tests.helpers import flipped_artifact, stage_colours, tiny_artifact


def test_register_versions_evaluates_and_copies_immutably(settings: Settings, store: Store) -> None:
    stage_colours(store)
    store.put("scones", "models/tiny-test-model/output/model.tar.gz", tiny_artifact().pack())
    jobs.create(settings, "tiny-test-model", {}, {}, "checksum-123")
    first = packages.register(settings, "s3://scones/models/tiny-test-model/output/model.tar.gz")
    assert (first.group, first.version, first.status) == ("bike-moto", 1, "PendingManualApproval")
    assert first.training_job == "tiny-test-model" and first.data_checksum == "checksum-123"
    assert first.evaluation is not None and first.evaluation["accuracy"] == 1.0
    assert (
        set(first.evaluation["precision"]) == {"bicycle", "motorcycle"}
        and "expected_calibration_error" in first.evaluation
    )
    assert first.artifact == "s3://scones/model-packages/bike-moto/1/model.tar.gz"
    store.put("scones", "models/tiny-test-model/output/model.tar.gz", flipped_artifact().pack())  # the source moves on
    second = packages.register(settings, "s3://scones/models/tiny-test-model/output/model.tar.gz")
    assert second.version == 2 and second.evaluation is not None and second.evaluation["accuracy"] == 0.0
    # version 1's copy is still the model that was registered and evaluated
    assert load(first.artifact, store).manifest.model_sha256 == tiny_artifact().manifest.model_sha256
    assert [p.version for p in packages.list_packages(settings)] == [2, 1]


def test_approve_reject_and_refusals(settings: Settings, store: Store) -> None:
    store.put("scones", "m/a.tar.gz", tiny_artifact().pack())
    package = packages.register(settings, "s3://scones/m/a.tar.gz", group="other", evaluate_model=False)
    assert package.evaluation is None
    approved = packages.set_status(settings, "other", 1, "Approved", "looks good")
    assert approved.status == "Approved" and approved.description == "looks good"
    assert packages.list_packages(settings, status="Approved") == [approved]
    assert packages.set_status(settings, "other", 1, "Rejected").status == "Rejected"
    with pytest.raises(ConfigError, match="No model package other/9"):
        packages.set_status(settings, "other", 9, "Approved")
    with pytest.raises(ConfigError, match="not one of PendingManualApproval, Approved, Rejected"):
        packages.set_status(settings, "other", 1, "Maybe")
    with pytest.raises(ConfigError, match="Group name"):
        packages.register(settings, "s3://scones/m/a.tar.gz", group="no spaces", evaluate_model=False)
    with pytest.raises(TrainingError, match="no training job"):
        packages.register(settings, "nosuchjob", evaluate_model=False)
    store.put("scones", "m/broken.tar.gz", b"not a tarball")
    with pytest.raises(ArtifactError):
        packages.register(settings, "s3://scones/m/broken.tar.gz", group="other", evaluate_model=False)
    assert len(packages.list_packages(settings, group="other")) == 1  # nothing half-written
    assert packages.parse_ref("arn:aws:sagemaker:local:000000000000:model-package/bike-moto/3") == ("bike-moto", 3)
    with pytest.raises(ConfigError, match="is not GROUP/VERSION"):
        packages.parse_ref("bike-moto")


def test_models_cli(settings: Settings, store: Store) -> None:
    stage_colours(store)
    store.put("scones", "m/a.tar.gz", tiny_artifact().pack())
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    made = runner.invoke(app, [*home, "models", "register", "--model", "s3://scones/m/a.tar.gz", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["evaluation"]["accuracy"] == 1.0
    approved = runner.invoke(app, [*home, "models", "approve", "bike-moto/1", "--json"])
    assert approved.exit_code == 0 and json.loads(approved.stdout)["status"] == "Approved"
    listed = runner.invoke(app, [*home, "models", "list"])
    assert "bike-moto/1" in listed.stdout and "Approved" in listed.stdout and "1.0000" in listed.stdout
    described = runner.invoke(app, [*home, "models", "describe", "bike-moto/1"])
    assert json.loads(described.stdout)["arn"].endswith("model-package/bike-moto/1")
    missing = runner.invoke(app, [*home, "models", "reject", "bike-moto/7"])
    assert missing.exit_code == 1 and "No model package bike-moto/7" in missing.stderr
