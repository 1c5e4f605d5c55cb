"""What stands in front of every API of `scones up`: the Host allow-list and the refusal of web pages."""

from __future__ import annotations

from typing import Any

import httpx

from scones.config import Settings
from tests.localaws.conftest import running


def _list_buckets(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url + "/", headers=headers)


def test_a_foreign_host_is_refused_before_any_api(local_aws: str, s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    assert _list_buckets(local_aws).status_code == 200
    refused = _list_buckets(local_aws, host="rebound.example:4566")
    assert refused.status_code == 403 and "rebound.example" in refused.text


def test_localhost_names_pass_for_virtual_host_s3(local_aws: str, s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    s3.put_object(Bucket="seed", Key="a.png", Body=b"x")
    port = local_aws.rsplit(":", 1)[1]
    answer = httpx.get(f"{local_aws}/a.png", headers={"host": f"seed.localhost:{port}"})
    assert answer.status_code == 200 and answer.content == b"x"


def test_a_web_page_cannot_fire_requests_blind(local_aws: str, s3: Any) -> None:
    # a "simple" cross-site form POST needs no preflight; the browser still names its origin
    s3.create_bucket(Bucket="seed")
    refused = httpx.put(f"{local_aws}/seed/planted.txt", content=b"x", headers={"origin": "https://evil.example"})
    assert refused.status_code == 403 and "evil.example" in refused.text
    assert "Contents" not in s3.list_objects_v2(Bucket="seed")
    same_machine = httpx.put(f"{local_aws}/seed/ok.txt", content=b"x", headers={"origin": local_aws})
    assert same_machine.status_code == 200


def test_allow_host_adds_a_name(settings: Settings) -> None:
    with running(settings, allow_hosts="scones.internal") as url:
        assert _list_buckets(url, host="scones.internal").status_code == 200
        assert _list_buckets(url, host="other.internal").status_code == 403


def test_a_json_body_that_is_not_an_object_is_aws_s_serialization_error(local_aws: str) -> None:
    auth = "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
    for service, target in (("logs", "Logs_20140328.GetLogEvents"), ("states", "AWSStepFunctions.ListStateMachines")):
        answer = httpx.post(
            local_aws + "/",
            content=b"[1, 2]",
            headers={"x-amz-target": target, "authorization": auth.format(service)},
        )
        assert answer.status_code == 400, (service, answer.text)
        assert "SerializationException" in answer.text and "not a JSON object" in answer.text
