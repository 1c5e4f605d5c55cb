from __future__ import annotations

import re

import pytest

from scones.config import Settings
from scones.errors import TrainingError
from scones.model import jobs


def _create(settings: Settings, name: str, checksum: str = "abc") -> None:
    jobs.create(settings, name, {"epochs": 3}, {"train": "s3://scones/data/train"}, checksum)


def test_sagemaker_style_names() -> None:
    assert re.fullmatch(r"image-classification-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3}", jobs.new_name())
    assert jobs.check_name("my-job-1") == "my-job-1"
    for bad in ("", "-x", "a_b", "a" * 64, "../etc"):
        with pytest.raises(TrainingError, match="invalid"):
            jobs.check_name(bad)


def test_lifecycle_and_statuses(settings: Settings) -> None:
    _create(settings, "job-a")
    record = jobs.describe(settings, "job-a")
    assert record["status"] == "InProgress" and record["hyperparameters"] == {"epochs": 3}
    assert record["channels"]["train"] == "s3://scones/data/train" and record["artifact_uri"] is None
    with pytest.raises(TrainingError, match="still InProgress"):
        jobs.artifact_uri(settings, "job-a")
    jobs.update_metrics(settings, "job-a", {"epochs": [{"epoch": 0}]})
    assert jobs.describe(settings, "job-a")["metrics"] == {"epochs": [{"epoch": 0}]}
    uri = jobs.default_artifact_uri(settings, "job-a")
    done = jobs.finish(settings, "job-a", "Completed", duration_seconds=12.5, metrics={"a": 1}, artifact_uri=uri)
    assert done["status"] == "Completed" and done["duration_seconds"] == 12.5 and done["ended"]
    assert jobs.artifact_uri(settings, "job-a") == "s3://scones/models/job-a/output/model.tar.gz"
    with pytest.raises(TrainingError, match="already exists"):
        _create(settings, "job-a")
    _create(settings, "job-b")
    jobs.finish(settings, "job-b", "Failed", duration_seconds=1, failure_reason="boom")
    with pytest.raises(TrainingError, match="Failed with no model"):
        jobs.artifact_uri(settings, "job-b")
    with pytest.raises(ValueError):
        jobs.finish(settings, "job-b", "InProgress", duration_seconds=1)


def test_unknown_job_names_the_command(settings: Settings) -> None:
    with pytest.raises(TrainingError, match="no training job nope; run 'scones training-jobs'"):
        jobs.artifact_uri(settings, "nope")
    with pytest.raises(TrainingError, match="Unknown status"):
        jobs.list_jobs(settings, status="Done")


def test_list_and_latest_completed(settings: Settings) -> None:
    assert jobs.latest_completed(settings) is None
    for name, checksum in (("j1", "x"), ("j2", "y"), ("j3", "x")):
        _create(settings, name, checksum)
    for name in ("j1", "j2"):
        jobs.finish(settings, name, "Completed", duration_seconds=1, artifact_uri=f"s3://scones/models/{name}")
    jobs.finish(settings, "j3", "Stopped", duration_seconds=1)
    assert [r["name"] for r in jobs.list_jobs(settings)] == ["j3", "j2", "j1"]
    assert [r["name"] for r in jobs.list_jobs(settings, status="Completed")] == ["j2", "j1"]
    latest = jobs.latest_completed(settings)
    assert latest is not None and latest["name"] == "j2"
    on_x = jobs.latest_completed(settings, data_checksum="x", hyperparameters={"epochs": 3})
    assert on_x is not None and on_x["name"] == "j1"
    assert jobs.latest_completed(settings, data_checksum="x", hyperparameters={"epochs": 4}) is None
