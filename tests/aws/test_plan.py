from __future__ import annotations

import pytest

from scones.aws import AwsOptions, build_plan
from scones.aws.errors import AwsError
from scones.errors import InvalidKey

SHA = "0123456789abcdef" * 4


def test_names_and_arns_follow_aws_formats() -> None:
    plan = build_plan(AwsOptions(bucket="my-bucket", region="eu-west-1"), "123456789012", SHA)
    assert plan.model_name == "bike-motorbike-image-classifier-01234567"
    assert plan.model_key == "models/bike-motorbike-image-classifier-01234567/model.tar.gz"
    assert plan.function_arn("classify_image") == "arn:aws:lambda:eu-west-1:123456789012:function:scones-classify-image"
    assert plan.endpoint_arn == "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/bike-motorbike-image-classifier"
    assert plan.role_arn("states") == "arn:aws:iam::123456789012:role/scones-eu-west-1-states"
    assert plan.bucket_arn("data/*") == "arn:aws:s3:::my-bucket/data/*"
    assert plan.image_uri.startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/scones-serve:")
    assert plan.ecr_repository_arn == "arn:aws:ecr:eu-west-1:123456789012:repository/scones-serve"
    assert plan.capture_uri == "s3://my-bucket/data_capture"
    assert all(len(plan.role_name(r)) <= 64 for r in plan.roles)


def test_partition_follows_the_region() -> None:
    plan = build_plan(AwsOptions(bucket="b-1", region="cn-north-1"), "123456789012", SHA)
    assert plan.state_machine_arn.startswith("arn:aws-cn:states:cn-north-1:")


def test_a_foreign_image_has_no_repository_to_scope() -> None:
    plan = build_plan(AwsOptions(bucket="b-1", region="us-east-1", image="ghcr.io/me/scones:1"), "123456789012", SHA)
    assert plan.image_uri == "ghcr.io/me/scones:1"
    assert plan.ecr_repository_arn is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bucket": "Bad_Bucket"}, InvalidKey, "Invalid bucket name"),
        ({"region": "moon-1"}, AwsError, "not an AWS region"),
        ({"name": "Has Spaces"}, AwsError, "lowercase letters"),
        ({"endpoint_name": "x" * 60}, AwsError, "up to 54"),
        ({"instance_count": 0}, AwsError, "at least 1"),
    ],
)
def test_bad_options_say_what_to_fix(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    base: dict[str, object] = {"bucket": "good-bucket", "region": "us-east-1"}
    with pytest.raises(error, match=match):
        AwsOptions(**{**base, **kwargs})  # type: ignore[arg-type]


def test_account_and_sha_are_checked() -> None:
    options = AwsOptions(bucket="good-bucket", region="us-east-1")
    with pytest.raises(AwsError, match="12-digit"):
        build_plan(options, "12", SHA)
    with pytest.raises(AwsError, match="sha256"):
        build_plan(options, "123456789012", "")
