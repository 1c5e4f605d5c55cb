"""SageMaker's model registry API through boto3, over the rows `scones models` shows."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from scones.config import Settings
from scones.model import packages
from tests.helpers import flipped_artifact, tiny_artifact
from tests.localaws.sagemaker_helpers import IMAGE


def _container(key: str) -> dict[str, Any]:
    return {
        "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://seed-bucket/{key}"}],
        "SupportedContentTypes": ["image/png"],
        "SupportedResponseMIMETypes": ["application/json"],
    }


@pytest.fixture
def sm(client: Any, s3: Any) -> Any:
    s3.create_bucket(Bucket="seed-bucket")
    s3.put_object(Bucket="seed-bucket", Key="a/model.tar.gz", Body=tiny_artifact().pack())
    s3.put_object(Bucket="seed-bucket", Key="b/model.tar.gz", Body=flipped_artifact().pack())
    return client("sagemaker")


def test_model_packages_are_scones_model_packages(sm: Any, settings: Settings) -> None:
    group = sm.create_model_package_group(ModelPackageGroupName="bike-moto", ModelPackageGroupDescription="seed")
    assert group["ModelPackageGroupArn"] == "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/bike-moto"
    first = sm.create_model_package(
        ModelPackageGroupName="bike-moto", InferenceSpecification=_container("a/model.tar.gz")
    )
    second = sm.create_model_package(
        ModelPackageGroupName="bike-moto",
        InferenceSpecification=_container("b/model.tar.gz"),
        ModelApprovalStatus="Approved",
        ModelPackageDescription="flipped",
    )
    assert first["ModelPackageArn"].endswith(":model-package/bike-moto/1")
    assert second["ModelPackageArn"].endswith(":model-package/bike-moto/2")
    described = sm.describe_model_package(ModelPackageName=first["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageVersion"] == 1
    immutable = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert immutable == "s3://scones/model-packages/bike-moto/1/model.tar.gz"  # the registry's own copy
    sm.update_model_package(ModelPackageArn=first["ModelPackageArn"], ModelApprovalStatus="Rejected")
    rows = {
        p.version: p.status for p in packages.list_packages(settings, "bike-moto")
    }  # what `scones models list` shows
    assert rows == {1: "Rejected", 2: "Approved"}
    pages = list(
        sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName="bike-moto", PaginationConfig={"PageSize": 1}
        )
    )
    assert [[s["ModelPackageVersion"] for s in p["ModelPackageSummaryList"]] for p in pages] == [[1], [2]]
    approved = sm.list_model_packages(ModelPackageGroupName="bike-moto", ModelApprovalStatus="Approved")
    assert [s["ModelPackageVersion"] for s in approved["ModelPackageSummaryList"]] == [2]


def test_a_package_registered_by_the_cli_is_described_by_the_api(sm: Any, settings: Settings, tmp_path: Any) -> None:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(tiny_artifact().pack())
    packages.register(settings, str(path), "cli-group", evaluate_model=False)
    described = sm.describe_model_package(ModelPackageName="cli-group/1")
    assert described["ModelPackageGroupName"] == "cli-group"
    assert described["CustomerMetadataProperties"]["TrainingJob"] == "tiny-test-model"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda sm: sm.create_model_package(
                ModelPackageGroupName="none", InferenceSpecification=_container("a/model.tar.gz")
            ),
            "Model Package Group arn:aws:sagemaker:us-east-1:000000000000:model-package-group/none does not exist.",
        ),
        (
            lambda sm: sm.describe_model_package(ModelPackageName="bike-moto/9"),
            "ModelPackage bike-moto/9 does not exist.",
        ),
        (
            lambda sm: sm.update_model_package(ModelPackageArn="bike-moto/1", ModelApprovalStatus="Maybe"),
            "Status 'Maybe' is not one of",
        ),
        (
            lambda sm: sm.create_model_package_group(ModelPackageGroupName="bike-moto"),
            "Model Package Group already exists",
        ),
        (
            lambda sm: sm.create_model_package(
                ModelPackageGroupName="bike-moto", InferenceSpecification=_container("none.tar.gz")
            ),
            "none.tar.gz",
        ),
    ],
)
def test_registry_errors(sm: Any, call: Any, message: str) -> None:
    sm.create_model_package_group(ModelPackageGroupName="bike-moto")
    sm.create_model_package(ModelPackageGroupName="bike-moto", InferenceSpecification=_container("a/model.tar.gz"))
    with pytest.raises(ClientError) as exc:
        call(sm)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert message in exc.value.response["Error"]["Message"]
