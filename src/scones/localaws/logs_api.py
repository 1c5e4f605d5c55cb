"""CloudWatch Logs (JSON 1.1): DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents over `LogStore`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scones.localaws.logstore import LogStore
from scones.localaws.protocol import AwsError, json_call

PAGE = 10000  # AWS's default and largest page of events


async def handle(request: Request, logs: LogStore, region: str, account: str) -> Response:
    handler, body = await json_call(request, OPERATIONS, "logs")
    if handler is describe_log_groups:  # the one operation over all groups, with ARNs in the account
        result = describe_log_groups(logs, body, f"arn:aws:logs:{region}:{account}:log-group:")
    elif not body.get("logGroupName"):
        raise AwsError("InvalidParameterException", "logGroupName is required")
    else:
        result = handler(logs, body)
    return Response(json.dumps(result).encode(), 200, media_type="application/x-amz-json-1.1")


def describe_log_groups(logs: LogStore, body: dict[str, Any], arn_prefix: str = "") -> dict[str, Any]:
    """Groups by name prefix, or by a case-insensitive substring (logGroupNamePattern), 50 a page at most."""
    prefix, pattern = body.get("logGroupNamePrefix"), body.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise AwsError(
            "InvalidParameterException", "logGroupNamePrefix and logGroupNamePattern are mutually exclusive; give one"
        )
    groups = [
        g
        for g in logs.groups()
        if g["logGroupName"].startswith(prefix or "") and (pattern or "").lower() in g["logGroupName"].lower()
    ]
    limit = int(body.get("limit", 50))
    if not 1 <= limit <= 50:
        raise AwsError("InvalidParameterException", f"limit must be between 1 and 50, not {limit}")
    start = _offset(body.get("nextToken"))
    page = [
        {
            **g,
            "metricFilterCount": 0,
            "arn": f"{arn_prefix}{g['logGroupName']}:*",
            "logGroupArn": f"{arn_prefix}{g['logGroupName']}",
            "logGroupClass": "STANDARD",
        }
        for g in groups[start : start + limit]
    ]
    more = start + limit < len(groups)
    return {"logGroups": page, **({"nextToken": str(start + limit)} if more else {})}


def describe_log_streams(logs: LogStore, body: dict[str, Any]) -> dict[str, Any]:
    streams = logs.streams(body["logGroupName"], body.get("logStreamNamePrefix", ""))
    if body.get("orderBy") == "LastEventTime":
        streams.sort(key=lambda s: s["lastEventTimestamp"])
    if body.get("descending"):
        streams.reverse()
    start = _offset(body.get("nextToken"))
    limit = int(body.get("limit", 50))
    page = streams[start : start + limit]
    more = start + limit < len(streams)
    return {"logStreams": page, **({"nextToken": str(start + limit)} if more else {})}


def get_log_events(logs: LogStore, body: dict[str, Any]) -> dict[str, Any]:
    events = _in_window(logs.events(body["logGroupName"], body["logStreamName"]), body)
    limit = int(body.get("limit", PAGE))
    token = body.get("nextToken")
    if token:
        direction, _, index = token.partition("/")
        end = _offset(index)
        start = end if direction == "f" else max(0, end - limit)
        end = min(start + limit, len(events)) if direction == "f" else end
    elif body.get("startFromHead"):
        start, end = 0, min(limit, len(events))
    else:  # AWS returns the newest events first unless asked to start from the head
        start, end = max(0, len(events) - limit), len(events)
    page = [{k: e[k] for k in ("timestamp", "message", "ingestionTime")} for e in events[start:end]]
    return {"events": page, "nextForwardToken": f"f/{end}", "nextBackwardToken": f"b/{start}"}


def filter_log_events(logs: LogStore, body: dict[str, Any]) -> dict[str, Any]:
    group = body["logGroupName"]
    names = body.get("logStreamNames") or [
        s["logStreamName"] for s in logs.streams(group, body.get("logStreamNamePrefix", ""))
    ]
    terms = _terms(body.get("filterPattern", ""))
    found = []
    for name in names:
        for index, event in enumerate(_in_window(logs.events(group, name), body)):
            if all(term in event["message"] for term in terms):
                found.append({"logStreamName": name, "eventId": f"{name}/{index}", **event})
    found.sort(key=lambda e: e["timestamp"])
    start = _offset(body.get("nextToken"))
    limit = int(body.get("limit", PAGE))
    more = start + limit < len(found)
    return {"events": found[start : start + limit], **({"nextToken": str(start + limit)} if more else {})}


def _terms(pattern: str) -> list[str]:
    """CloudWatch's plain filter patterns: every term (or quoted phrase) must appear."""
    if pattern.strip().startswith(("{", "[")):
        raise AwsError(
            "InvalidParameterException", "JSON and space-delimited filter patterns are not supported locally"
        )
    try:
        return shlex.split(pattern)
    except ValueError as exc:
        raise AwsError("InvalidParameterException", f"Invalid filter pattern: {exc}") from exc


def _in_window(events: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = body.get("startTime"), body.get("endTime")
    return [e for e in events if (start is None or e["timestamp"] >= start) and (end is None or e["timestamp"] < end)]


def _offset(token: Any) -> int:
    try:
        return max(0, int(token or 0))
    except (TypeError, ValueError) as exc:
        raise AwsError("InvalidParameterException", "The next token is not valid") from exc


OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "DescribeLogGroups": describe_log_groups,
    "DescribeLogStreams": describe_log_streams,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}
