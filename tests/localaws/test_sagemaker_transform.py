"""SageMaker batch transform jobs through boto3 against `scones up`: the same .out files as `scones transform`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError
from typer.testing import CliRunner

from scones.cli import app
from scones.storage import Store
from tests.helpers import png_bytes
from tests.localaws.sagemaker_helpers import IMAGE, ROLE

FAST = {"Delay": 1, "MaxAttempts": 60}
MODEL_URI = "s3://batch/models/tiny/model.tar.gz"
PHOTOS = {
    "red.png": png_bytes((200, 30, 30)),
    "blue.png": png_bytes((30, 30, 200)),
    "big-red.png": png_bytes((200, 30, 30), size=300),
    "cam/grey.png": png_bytes((128, 128, 128), mode="RGBA"),
}
COUNT = 1000  # images in the stopped job: the tiny model answers them in well over the stop request's time
BROKEN = b"\x89PNG\r\n\x1a\n truncated"


@pytest.fixture
def sm(client: Any, s3: Any, model_file: Path) -> Any:
    """A SageMaker client with model `tiny` (the trained model fixture) and the photos under batch/day/."""
    s3.create_bucket(Bucket="batch")
    s3.put_object(Bucket="batch", Key="models/tiny/model.tar.gz", Body=model_file.read_bytes())
    for name, data in PHOTOS.items():
        s3.put_object(Bucket="batch", Key=f"day/{name}", Body=data)
    sagemaker = client("sagemaker")
    sagemaker.create_model(
        ModelName="tiny", PrimaryContainer={"Image": IMAGE, "ModelDataUrl": MODEL_URI}, ExecutionRoleArn=ROLE
    )
    return sagemaker


def _create(sm: Any, name: str, input_uri: str, output_uri: str, model: str = "tiny") -> None:
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "application/x-image",
        },
        TransformOutput={"S3OutputPath": output_uri, "Accept": "application/json"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )


def _outs(s3: Any, prefix: str) -> dict[str, bytes]:
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket="batch", Prefix=prefix + "/")
    keys = [o["Key"] for page in listed for o in page.get("Contents", [])]
    return {k[len(prefix) + 1 :]: s3.get_object(Bucket="batch", Key=k)["Body"].read() for k in keys}


def test_transform_job_writes_what_scones_transform_writes(sm: Any, s3: Any) -> None:
    _create(sm, "day-1", "s3://batch/day/", "s3://batch/api-out/")
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="day-1", WaiterConfig=FAST)
    job = sm.describe_transform_job(TransformJobName="day-1")
    assert job["TransformJobStatus"] == "Completed" and "FailureReason" not in job
    assert job["ModelName"] == "tiny" and job["TransformJobArn"].endswith(":transform-job/day-1")
    assert job["CreationTime"] <= job["TransformStartTime"] <= job["TransformEndTime"]
    assert job["TransformOutput"]["S3OutputPath"] == "s3://batch/api-out/"

    cli = CliRunner().invoke(
        app, ["transform", "--model", MODEL_URI, "--input", "s3://batch/day/", "--output", "s3://batch/cli-out/"]
    )
    assert cli.exit_code == 0, cli.output
    api, by_cli = _outs(s3, "api-out"), _outs(s3, "cli-out")
    assert sorted(api) == sorted(f"{name}.out" for name in PHOTOS)
    assert api == by_cli
    assert json.loads(api["red.png.out"])[0] > 0.99 and json.loads(api["blue.png.out"])[1] > 0.99

    listed = sm.get_paginator("list_transform_jobs").paginate(PaginationConfig={"PageSize": 1})
    summaries = [s for page in listed for s in page["TransformJobSummaries"]]
    assert [(s["TransformJobName"], s["TransformJobStatus"]) for s in summaries] == [("day-1", "Completed")]
    with pytest.raises(ClientError) as stopped:  # a finished job cannot be stopped
        sm.stop_transform_job(TransformJobName="day-1")
    assert "in status Completed" in stopped.value.response["Error"]["Message"]


def test_corrupt_input_fails_the_job_by_name_and_the_rest_are_answered(sm: Any, s3: Any, client: Any) -> None:
    s3.put_object(Bucket="batch", Key="day/broken.png", Body=BROKEN)
    _create(sm, "day-2", "s3://batch/day", "s3://batch/out-2")
    with pytest.raises(WaiterError, match="Failed"):
        sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="day-2", WaiterConfig=FAST)
    job = sm.describe_transform_job(TransformJobName="day-2")
    assert job["TransformJobStatus"] == "Failed" and "TransformEndTime" in job
    assert job["FailureReason"].startswith("ClientError: 1 of 5 inputs could not be classified")
    assert "broken.png" in job["FailureReason"]
    assert sorted(_outs(s3, "out-2")) == sorted(f"{name}.out" for name in PHOTOS)
    failed = sm.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in failed] == ["day-2"]
    logs = client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix="day-2/")
    [stream] = [s["logStreamName"] for s in streams["logStreams"]]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TransformJobs", logStreamName=stream)["events"]
    assert any(e["message"].startswith("Failed: broken.png") for e in events), events


def test_unknown_model_is_a_validation_error(sm: Any, s3: Any) -> None:
    with pytest.raises(ClientError) as error:
        _create(sm, "day-3", "s3://batch/day/", "s3://batch/out-3/", model="nope")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["Error"]["Message"].startswith('Could not find model "arn:aws:sagemaker:')
    with pytest.raises(ClientError) as missing:
        sm.describe_transform_job(TransformJobName="day-3")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert "Contents" not in s3.list_objects_v2(Bucket="batch", Prefix="out-3/")


def test_duplicate_name_is_resource_in_use(sm: Any) -> None:
    _create(sm, "day-4", "s3://batch/day/", "s3://batch/out-4/")
    with pytest.raises(ClientError) as error:
        _create(sm, "day-4", "s3://batch/day/", "s3://batch/out-5/")
    assert error.value.response["Error"]["Code"] == "ResourceInUse"
    assert "a transform job with this name already exists" in error.value.response["Error"]["Message"]
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="day-4", WaiterConfig=FAST)


def test_an_empty_input_prefix_is_refused_before_the_job_exists(sm: Any) -> None:
    with pytest.raises(ClientError) as error:
        _create(sm, "day-7", "s3://batch/nothing/", "s3://batch/out-7/")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["Error"]["Message"].startswith('No S3 objects found under S3 URL "s3://batch/nothing/"')
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_a_manifest_input_is_refused_before_the_job_exists(sm: Any) -> None:
    with pytest.raises(ClientError) as error:
        sm.create_transform_job(
            TransformJobName="day-6",
            ModelName="tiny",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://batch/m"}}},
            TransformOutput={"S3OutputPath": "s3://batch/out-6/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert (
        "S3DataType 'ManifestFile' is not supported locally; use S3Prefix" in error.value.response["Error"]["Message"]
    )
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_stop_ends_the_job_after_a_batch_and_a_new_job_finishes_the_rest(sm: Any, s3: Any, store: Store) -> None:
    for i in range(COUNT):  # through the store, not HTTP: enough inputs that the stop lands mid-run
        store.put("batch", f"many/{i:04d}.png", PHOTOS["red.png"])
    _create(sm, "many-1", "s3://batch/many/", "s3://batch/many-out/")
    sm.stop_transform_job(TransformJobName="many-1")
    assert sm.describe_transform_job(TransformJobName="many-1")["TransformJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="many-1", WaiterConfig=FAST)
    assert sm.describe_transform_job(TransformJobName="many-1")["TransformJobStatus"] == "Stopped"
    answered = len(list(store.list("batch", "many-out")))
    assert answered < COUNT
    _create(sm, "many-2", "s3://batch/many/", "s3://batch/many-out/")
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="many-2", WaiterConfig=FAST)
    assert len(list(store.list("batch", "many-out"))) == COUNT
