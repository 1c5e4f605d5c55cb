"""SageMaker test helpers: a small slice of the bike-moto PNG export staged through the S3 API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"  # image_uris.retrieve's answer
ROLE = "arn:aws:iam::000000000000:role/service-role/AmazonSageMaker-ExecutionRole"
HYPERPARAMETERS = {"image_shape": "3,32,32", "num_classes": "2", "epochs": "1", "mini_batch_size": "32"}


def stage(s3: Any, bike_moto: Path, bucket: str, train: int = 64, validation: int = 32) -> dict[str, str]:
    """The seed's layout (train/, test/, train.lst, test.lst at the bucket's root): the four channels' URIs."""
    rows = [line.split("\t") for line in (bike_moto / "train.lst").read_text().splitlines() if line]
    by_label = {label: [r for r in rows if r[1] == label] for label in ("0", "1")}
    half_t, half_v = train // 2, validation // 2
    splits = {
        "train": by_label["0"][:half_t] + by_label["1"][:half_t],
        "test": by_label["0"][half_t : half_t + half_v] + by_label["1"][half_t : half_t + half_v],
    }
    if bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:  # staged already
        return _uris(bucket)
    s3.create_bucket(Bucket=bucket)
    for split, chosen in splits.items():
        for _, _, name in chosen:
            s3.put_object(Bucket=bucket, Key=f"{split}/{name}", Body=(bike_moto / "train" / name).read_bytes())
        lst = "".join(f"{i}\t{label}\t{name}\n" for i, (_, label, name) in enumerate(chosen))
        s3.put_object(Bucket=bucket, Key=f"{split}.lst", Body=lst.encode())
    return _uris(bucket)


def _uris(bucket: str) -> dict[str, str]:
    return {
        "train": f"s3://{bucket}/train/",
        "validation": f"s3://{bucket}/test/",
        "train_lst": f"s3://{bucket}/train.lst",
        "validation_lst": f"s3://{bucket}/test.lst",
    }


def input_config(channels: dict[str, str]) -> list[dict[str, Any]]:
    """InputDataConfig as the SDK's TrainingInput(..., content_type='application/x-image') sends it."""
    return [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
            },
            "ContentType": "application/x-image",
            "InputMode": "File",
        }
        for name, uri in channels.items()
    ]


def training_request(name: str, channels: dict[str, str], output: str, **hyperparameters: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": input_config(channels),
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {**HYPERPARAMETERS, **hyperparameters},
    }
