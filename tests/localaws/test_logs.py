"""CloudWatch Logs through boto3: what a Lambda function printed, by stream, page and filter."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

SOURCE = "def lambda_handler(event, context):\n    print('classified', event['n'])\n    return event['n']\n"


def _function(client: Any, name: str = "printer") -> Any:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", SOURCE)
    lam = client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    return lam


def test_lambda_output_is_in_its_log_group(client: Any) -> None:
    lam = _function(client)
    for n in range(3):
        lam.invoke(FunctionName="printer", Payload=json.dumps({"n": n}).encode())
    logs = client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/printer", orderBy="LastEventTime", descending=True)
    assert len(streams["logStreams"]) == 1  # one warm environment served all three
    stream = streams["logStreams"][0]["logStreamName"]
    assert "[$LATEST]" in stream
    events = logs.get_log_events(logGroupName="/aws/lambda/printer", logStreamName=stream, startFromHead=True)
    messages = [e["message"] for e in events["events"]]
    assert [m for m in messages if m.startswith("classified")] == ["classified 0", "classified 1", "classified 2"]
    assert sum(m.startswith("START RequestId: ") for m in messages) == 3
    assert sum(m.startswith("REPORT RequestId: ") for m in messages) == 3
    page = logs.get_log_events(logGroupName="/aws/lambda/printer", logStreamName=stream, startFromHead=True, limit=2)
    after = logs.get_log_events(
        logGroupName="/aws/lambda/printer", logStreamName=stream, nextToken=page["nextForwardToken"], limit=2
    )
    assert [e["message"] for e in page["events"] + after["events"]] == messages[:4]
    found = logs.filter_log_events(logGroupName="/aws/lambda/printer", filterPattern='"classified 1"')
    assert [e["message"] for e in found["events"]] == ["classified 1"]
    paged = logs.get_paginator("filter_log_events").paginate(
        logGroupName="/aws/lambda/printer", filterPattern="classified", PaginationConfig={"PageSize": 1}
    )
    assert [e["message"] for p in paged for e in p["events"]] == ["classified 0", "classified 1", "classified 2"]


def test_missing_group_is_resource_not_found(client: Any) -> None:
    logs = client("logs")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/aws/lambda/nothing")
    _function(client, "quiet")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/aws/lambda/quiet", logStreamName="none")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_log_groups_lists_the_store_by_prefix_pattern_and_page(client: Any) -> None:
    logs = client("logs")
    assert logs.describe_log_groups()["logGroups"] == []
    for name in ("printer", "serializeImageData", "classifyImage"):
        lam = _function(client, name)
        lam.invoke(FunctionName=name, Payload=json.dumps({"n": 1}).encode())
    _function(client, "neverInvoked")  # no stream yet: no group, as on AWS before the first invocation
    groups = logs.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [
        "/aws/lambda/classifyImage",
        "/aws/lambda/printer",
        "/aws/lambda/serializeImageData",
    ]
    first = groups[0]
    assert first["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/classifyImage:*"
    assert first["logGroupArn"] == first["arn"][:-2]
    assert first["storedBytes"] > 0 and first["creationTime"] > 1_700_000_000_000
    by_prefix = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/p")["logGroups"]
    assert [g["logGroupName"] for g in by_prefix] == ["/aws/lambda/printer"]
    by_pattern = logs.describe_log_groups(logGroupNamePattern="IMAGE")["logGroups"]  # any case, anywhere
    assert [g["logGroupName"] for g in by_pattern] == ["/aws/lambda/classifyImage", "/aws/lambda/serializeImageData"]
    pages = logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 2})
    assert [len(p["logGroups"]) for p in pages] == [2, 1]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(logGroupNamePrefix="/aws", logGroupNamePattern="lambda")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "mutually exclusive" in exc.value.response["Error"]["Message"]
