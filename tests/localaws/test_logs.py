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
