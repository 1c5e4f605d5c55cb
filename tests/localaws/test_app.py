"""Routing by the SigV4 scope, STS, AWS error shapes for what is not served, and signature checks."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from scones.config import Settings
from tests.localaws.conftest import running


def test_sts_get_caller_identity(client: Any) -> None:
    identity = client("sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == ("000000000000", "arn:aws:iam::000000000000:root")


def test_account_id_is_configurable(settings: Settings) -> None:
    with running(settings, account_id="123456789012") as url:
        sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
        assert sts.get_caller_identity()["Account"] == "123456789012"


@pytest.mark.parametrize(
    ("service", "call", "operation"),
    [
        ("lambda", lambda c: c.list_aliases(FunctionName="f"), "ListAliases"),
        ("stepfunctions", lambda c: c.list_activities(), "ListActivities"),
        ("sagemaker", lambda c: c.list_processing_jobs(), "ListProcessingJobs"),
        ("logs", lambda c: c.describe_metric_filters(), "DescribeMetricFilters"),
        ("sts", lambda c: c.get_session_token(), "GetSessionToken"),
    ],
)
def test_operations_not_served_answer_in_aws_shape(client: Any, service: str, call: Any, operation: str) -> None:
    with pytest.raises(ClientError) as exc:
        call(client(service))
    assert f"{operation} is not supported locally" in exc.value.response["Error"]["Message"]


def test_per_service_endpoint_variable_routes_by_scope(local_aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_aws)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="seed")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["seed"]
    assert boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"] == "000000000000"


def test_unsigned_requests_are_s3(local_aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=local_aws, region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    s3.create_bucket(Bucket="seed")
    s3.put_object(Bucket="seed", Key="k", Body=b"x")
    assert s3.get_object(Bucket="seed", Key="k")["Body"].read() == b"x"


def test_virtual_host_addressing(local_aws: str) -> None:
    # bucket.localhost need not resolve here: boto3 sends through the server as its HTTP proxy,
    # so the request carries the virtual host name exactly as it would on a resolving machine.
    port = local_aws.rsplit(":", 1)[1]
    config = Config(s3={"addressing_style": "virtual"}, proxies={"http": local_aws})
    s3 = boto3.client("s3", endpoint_url=f"http://localhost:{port}", region_name="us-east-1", config=config)
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    s3.create_bucket(Bucket="seed")
    s3.put_object(Bucket="seed", Key="a/b.png", Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="seed")["Contents"]] == ["a/b.png"]
    assert s3.get_object(Bucket="seed", Key="a/b.png")["Body"].read() == b"x"
    assert sent[-1] == f"http://seed.localhost:{port}/a/b.png"


def _clients(url: str, key: str, secret: str) -> tuple[Any, Any, Any]:
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": key}
    kw["aws_secret_access_key"] = secret
    kw["config"] = Config(retries={"max_attempts": 1})
    return boto3.client("s3", **kw), boto3.client("sts", **kw), boto3.client("lambda", **kw)


def test_signatures_are_checked_when_keys_are_configured(settings: Settings) -> None:
    with running(settings, access_key="AKIDLOCAL", secret_key="s3cret") as url:
        s3, sts, _ = _clients(url, "AKIDLOCAL", "s3cret")
        s3.create_bucket(Bucket="seed")
        s3.put_object(Bucket="seed", Key="a b/ü.png", Body=b"x" * 100)  # path encoding is part of the signature
        assert s3.list_objects(Bucket="seed", Prefix="a b/")["Contents"][0]["Key"] == "a b/ü.png"
        assert sts.get_caller_identity()["Account"] == "000000000000"

        bad_s3, bad_sts, bad_lambda = _clients(url, "AKIDLOCAL", "wrong")
        for call, code in (
            (lambda: bad_s3.list_buckets(), "SignatureDoesNotMatch"),
            (lambda: bad_sts.get_caller_identity(), "SignatureDoesNotMatch"),
            (lambda: bad_lambda.list_functions(), "InvalidSignatureException"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert exc.value.response["Error"]["Code"] == code
        other_s3, other_sts, _ = _clients(url, "SOMEONEELSE", "s3cret")
        with pytest.raises(ClientError) as exc:
            other_s3.list_buckets()
        assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        with pytest.raises(ClientError) as exc:
            other_sts.get_caller_identity()
        assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"
        unsigned = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
        )
        with pytest.raises(ClientError) as exc:
            unsigned.list_buckets()
        assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_signatures_are_not_checked_by_default(local_aws: str) -> None:
    s3, _, _ = _clients(local_aws, "anything", "whatever")
    s3.create_bucket(Bucket="seed")
