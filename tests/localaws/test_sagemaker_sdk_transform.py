"""Batch transform with the SageMaker Python SDK v2 against `scones up`: Transformer.transform, then wait.

The model is the tiny test model (no training): Model(...).create registers it, Transformer
runs CreateTransformJob over an S3 prefix of photos, wait() follows DescribeTransformJob and the
job's CloudWatch log stream, and each input's `<name>.out` holds the model's answer. Needs the
`sagemaker` package (requirements-sdk.lock).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import png_bytes
from tests.localaws.sagemaker_helpers import IMAGE, ROLE

pytestmark = pytest.mark.slow  # about a minute: scones up starts, and wait() with logs polls every 30 s

PHOTOS = {  # red -> bicycle, blue -> motorcycle for the tiny model; any size, nested keys
    "red.png": (png_bytes((200, 30, 30)), 0),
    "blue.png": (png_bytes((30, 30, 200)), 1),
    "big-red.png": (png_bytes((200, 30, 30), size=300), 0),
    "cam/blue.png": (png_bytes((30, 30, 200), mode="RGBA"), 1),
}


def test_sdk_transformer_writes_an_answer_per_photo(
    sagemaker_sdk: Any, s3: Any, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sagemaker.model import Model
    from sagemaker.transformer import Transformer

    bucket = "photos-bucket"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/tiny/model.tar.gz", Body=model_file.read_bytes())
    for name, (data, _) in PHOTOS.items():
        s3.put_object(Bucket=bucket, Key=f"day/{name}", Body=data)
    session = sagemaker_sdk.Session(default_bucket=bucket)
    model = Model(
        image_uri=IMAGE,
        model_data=f"s3://{bucket}/models/tiny/model.tar.gz",
        role=ROLE,
        name="tiny",
        sagemaker_session=session,
    )
    model.create(instance_type="ml.m5.large")

    transformer = Transformer(
        model_name="tiny",
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/day-out/",
        accept="application/json",
        sagemaker_session=session,
    )
    transformer.transform(
        f"s3://{bucket}/day/", content_type="application/x-image", job_name="sdk-day", wait=False, logs=False
    )
    transformer.wait(logs=False)  # DescribeTransformJob until Completed (a failed job raises here)
    transformer.wait()  # the default: the job's CloudWatch log stream, then its status checked again
    printed = capsys.readouterr().out  # the job's log events, as the SDK read them from CloudWatch Logs
    assert f"4 answers written to s3://{bucket}/day-out/" in printed and "0 failed" in printed

    described = session.describe_transform_job("sdk-day")
    assert described["TransformJobStatus"] == "Completed" and described["ModelName"] == "tiny"
    assert described["TransformInput"]["ContentType"] == "application/x-image"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="day-out/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"day-out/{name}.out" for name in PHOTOS)
    for name, (_, label) in PHOTOS.items():
        answer = json.loads(s3.get_object(Bucket=bucket, Key=f"day-out/{name}.out")["Body"].read())
        assert len(answer) == 2 and abs(sum(answer) - 1) < 1e-4 and answer[label] > 0.99, (name, answer)
