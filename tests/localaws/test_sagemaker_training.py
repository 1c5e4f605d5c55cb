"""SageMaker training jobs through boto3: scones' trainer runs them, the CLI lists them, logs tail them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from scones.config import Settings
from scones.model import jobs
from tests.localaws.sagemaker_helpers import IMAGE, ROLE, stage, training_request

FAST = {"Delay": 1, "MaxAttempts": 120}


def _train(sm: Any, s3: Any, bike_moto: Path, name: str, **hp: str) -> dict[str, Any]:
    channels = stage(s3, bike_moto, "seed-bucket")
    sm.create_training_job(**training_request(name, channels, "s3://seed-bucket/models/image_model", **hp))
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    return sm.describe_training_job(TrainingJobName=name)


def test_training_job_runs_scones_trainer_and_writes_the_model_where_sagemaker_does(
    client: Any, s3: Any, bike_moto: Path, settings: Settings
) -> None:
    sm = client("sagemaker")
    job = _train(sm, s3, bike_moto, "seed-job-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    assert job["SecondaryStatus"] == "Completed"
    assert job["HyperParameters"]["epochs"] == "1"
    assert (
        job["ModelArtifacts"]["S3ModelArtifacts"]
        == "s3://seed-bucket/models/image_model/seed-job-1/output/model.tar.gz"
    )
    head = s3.head_object(Bucket="seed-bucket", Key="models/image_model/seed-job-1/output/model.tar.gz")
    assert head["ContentLength"] > 1000
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} == {"train:accuracy", "validation:accuracy"}
    row = jobs.get(settings, "seed-job-1")  # one state: scones' own table has the job
    assert row is not None and row["status"] == "Completed" and row["hyperparameters"]["epochs"] == 1
    assert [r["name"] for r in jobs.list_jobs(settings)] == ["seed-job-1"]  # what `scones training-jobs` lists


def test_training_logs_are_in_cloudwatch_logs(client: Any, s3: Any, bike_moto: Path) -> None:
    sm, logs = client("sagemaker"), client("logs")
    _train(sm, s3, bike_moto, "seed-job-logs")
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="seed-job-logs/")["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith("seed-job-logs/algo-1-")
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True)
    messages = [e["message"] for e in events["events"]]
    assert any(m.startswith("Epoch[0] Train-accuracy=") for m in messages)
    found = logs.filter_log_events(logGroupName=group, filterPattern="Validation-accuracy")["events"]
    assert [e["message"].split("=")[0] for e in found] == ["Epoch[0] Validation-accuracy"]


def test_stop_training_job_keeps_the_best_epoch(client: Any, s3: Any, bike_moto: Path) -> None:
    sm = client("sagemaker")
    channels = stage(s3, bike_moto, "seed-bucket")
    sm.create_training_job(**training_request("seed-long", channels, "s3://seed-bucket/out", epochs="400"))
    waiter_logs = client("logs")
    for _ in range(600):  # stop once the first epoch has been logged
        try:
            events = waiter_logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", filterPattern="Epoch")
        except ClientError:
            events = {"events": []}
        if events["events"]:
            break
        __import__("time").sleep(0.2)
    sm.stop_training_job(TrainingJobName="seed-long")
    assert sm.describe_training_job(TrainingJobName="seed-long")["TrainingJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="seed-long", WaiterConfig=FAST)
    job = sm.describe_training_job(TrainingJobName="seed-long")
    assert job["TrainingJobStatus"] == "Stopped"
    assert "Stopping" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("/out/seed-long/output/model.tar.gz")
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName="seed-long")
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_list_training_jobs_pages_and_filters(client: Any, s3: Any, bike_moto: Path) -> None:
    sm = client("sagemaker")
    for name in ("page-a", "page-b"):
        _train(sm, s3, bike_moto, name)
    pages = list(sm.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 1}))
    assert [[s["TrainingJobName"] for s in p["TrainingJobSummaries"]] for p in pages] == [["page-b"], ["page-a"]]
    only = sm.list_training_jobs(NameContains="-b", StatusEquals="Completed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in only] == ["page-b"]


def test_training_job_failure_is_the_jobs_failure_reason(client: Any, s3: Any, bike_moto: Path) -> None:
    sm = client("sagemaker")
    channels = stage(s3, bike_moto, "seed-bucket")
    sm.create_training_job(**training_request("seed-bad", channels, "s3://seed-bucket/out", num_training_samples="999"))
    with pytest.raises(WaiterError):  # the waiter's Failed acceptor
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="seed-bad", WaiterConfig=FAST)
    job = sm.describe_training_job(TrainingJobName="seed-bad")
    assert job["TrainingJobStatus"] == "Failed"
    assert "num_training_samples=999 but the train channel holds 64 images" in job["FailureReason"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                                     "TrainingInputMode": "File"}},
         "only the built-in image-classification algorithm runs locally"),
        ({"HyperParameters": {"epochs": "many"}}, "epochs"),
        ({"TrainingJobName": "bad_name"}, "Training job name 'bad_name' is invalid"),
        ({"OutputDataConfig": {"S3OutputPath": "/tmp/out"}}, "is not an s3:// URI"),
        ({}, "s3://nowhere/train_lst holds 0 .lst files"),  # no such bucket: refused before any job exists
    ],
)  # fmt: skip
def test_create_training_job_refuses_bad_requests(client: Any, change: dict[str, Any], message: str) -> None:
    channels = {c: f"s3://nowhere/{c}" for c in ("train", "validation", "train_lst", "validation_lst")}
    request = {**training_request("ok-name", channels, "s3://nowhere/out"), **change}
    with pytest.raises(ClientError) as exc:
        client("sagemaker").create_training_job(**request)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert message in exc.value.response["Error"]["Message"]


def test_missing_channel_and_duplicate_name(client: Any, s3: Any, bike_moto: Path) -> None:
    sm = client("sagemaker")
    channels = stage(s3, bike_moto, "seed-bucket")
    three = {k: v for k, v in channels.items() if k != "validation_lst"}
    with pytest.raises(ClientError, match="Missing channels validation_lst"):
        sm.create_training_job(**training_request("dup", three, "s3://seed-bucket/out"))
    _train(sm, s3, bike_moto, "dup")
    with pytest.raises(ClientError) as exc:
        sm.create_training_job(**training_request("dup", channels, "s3://seed-bucket/out"))
    assert exc.value.response["Error"]["Code"] == "ResourceInUse"


def test_describe_unknown_training_job(client: Any) -> None:
    sm = client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.describe_training_job(TrainingJobName="nope")
    assert exc.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName="nope")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"
    assert IMAGE and ROLE  # the helpers' constants are what the SDK sends


def test_a_job_left_running_by_a_stopped_server_is_failed_on_restart(settings: Settings) -> None:
    import boto3

    from scones.localaws.sagemaker_records import Records
    from tests.localaws.conftest import running

    # what a `scones up` killed mid-training leaves: the API's record and scones' row, both InProgress
    Records(settings, "us-east-1", "000000000000").put(
        "training-jobs", "orphan", {"TrainingJobName": "orphan", "TrainingJobStatus": "InProgress",
                                    "CreationTime": 1.0, "LastModifiedTime": 1.0, "SecondaryStatusTransitions": []},
    )  # fmt: skip
    jobs.create(settings, "orphan", {}, {}, "checksum")
    with running(settings) as url:
        sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
        job = sm.describe_training_job(TrainingJobName="orphan")
    assert job["TrainingJobStatus"] == "Failed" and "scones up stopped while the job ran" in job["FailureReason"]
    assert jobs.describe(settings, "orphan")["status"] == "Failed"
