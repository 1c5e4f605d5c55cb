"""The AWS wire protocols, driven by botocore's service models (the clients' own specification).

botocore ships a JSON model per service (operations, shapes, where each member travels: header,
query, URI or body). Clients serialise requests from it; this module uses the same models the
other way round: to find which operation a REST request is (`match_operation`), to write
REST-XML responses with the member names and locations the client parser expects
(`xml_response`), and to answer errors in each protocol's shape (`error_response`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET  # noqa: S405 - we only build XML here; parsing is in xmlbody.py

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from starlette.requests import Request
from starlette.responses import Response

from scones.errors import SconesError

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class AwsError(SconesError):
    """An error answered in AWS's shape: `code` is what botocore maps to the exception class."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.sender = code, message, status, sender


def not_supported(service: str, operation: str) -> AwsError:
    """The error for an operation that exists on AWS but is not served locally."""
    return AwsError(
        "NotImplemented" if service == "s3" else "UnknownOperationException",
        f"{operation} is not supported locally by scones up; see docs/local-aws.md for what is served",
        501 if service == "s3" else 400,
    )


H = TypeVar("H")


async def json_call(request: Request, operations: Mapping[str, H], service: str) -> tuple[H, dict[str, Any]]:
    """A JSON-protocol request: its handler (named by X-Amz-Target) and its body, or AWS's error for either."""
    operation = request.headers.get("x-amz-target", "").split(".", 1)[-1]
    handler = operations.get(operation)
    if handler is None:
        raise not_supported(service, operation or "(no X-Amz-Target)")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise AwsError("SerializationException", "The request body is not JSON") from exc
    if not isinstance(body, dict):
        raise AwsError("SerializationException", "The request body is not a JSON object")
    return handler, body


@functools.cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of one service (loaded once; a few ms each)."""
    return botocore.session.get_session().get_service_model(name)


# -- finding the operation of a REST request ------------------------------------------------
_Row = tuple[OperationModel, str, re.Pattern[str], int, tuple[str, ...], tuple[str, ...]]


@functools.cache
def _rest_operations(service: str) -> list[_Row]:
    """Per operation: method, path pattern, literal path length, literal query keys, required query/header names."""
    model = service_model(service)
    rows: list[_Row] = []
    for name in model.operation_names:
        op = model.operation_model(name)
        path, _, query = op.http["requestUri"].partition("?")
        literals = tuple(k for k, _ in parse_qsl(query, keep_blank_values=True) if k != "x-id")
        required: list[str] = []
        shape = op.input_shape
        if isinstance(shape, StructureShape):
            for member in shape.required_members:
                ser = shape.members[member].serialization
                if ser.get("location") == "querystring":
                    required.append("q:" + ser.get("name", member))
                elif ser.get("location") == "header":  # header names are matched in lower case
                    required.append("h:" + ser.get("name", member).lower())
        pattern, static = _path_pattern(path)
        rows.append((op, op.http["method"], pattern, static, literals, tuple(required)))
    return rows


def _path_pattern(template: str) -> tuple[re.Pattern[str], int]:
    """`/functions/{FunctionName}/code` as a regex, and how many literal characters it has."""
    parts = re.split(r"(\{[^}]+\})", template.rstrip("/") or "/")
    regex = "".join((".+" if p.endswith("+}") else "[^/]+") if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex + "/?"), sum(len(p) for p in parts if not p.startswith("{"))


def match_operation(service: str, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The operation a REST request is: same method, its path template, the most markers matched."""
    present = frozenset(h for h in _marker_headers(service) if h in headers)
    return _match(service, method, path, frozenset(query), present)


@functools.cache
def _marker_headers(service: str) -> frozenset[str]:
    return frozenset(r[2:] for row in _rest_operations(service) for r in row[5] if r[0] == "h")


@functools.lru_cache(maxsize=4096)  # requests repeat shapes; a scan of ~100 templates costs ~80 us
def _match(service: str, method: str, path: str, query: frozenset[str], headers: frozenset[str]) -> str:
    best: tuple[int, str] | None = None
    for op, op_method, pattern, static, literals, required in _rest_operations(service):
        if op_method != method or not pattern.fullmatch(path) or any(k not in query for k in literals):
            continue
        if any((r[2:] not in query) if r[0] == "q" else (r[2:] not in headers) for r in required):
            continue
        score = 1000 * len(literals) + 100 * len(required) + static
        if best is None or score > best[0]:
            best = (score, op.name)
    if best is None:
        raise AwsError("MethodNotAllowed", f"{method} {path} is not an operation of {service}", 405)
    return best[1]


# -- REST-XML responses -------------------------------------------------------------------------
def xml_response(service: str, operation: str, data: Mapping[str, Any], root: str | None = None) -> Response:
    """Serialise `data` (the output shape's members, by member name) as AWS would for `operation`.

    Members located in headers become headers; a streaming or structure payload member becomes the
    body; otherwise the remaining members form an XML document under `root` (AWS's root element
    name, which botocore's model does not carry).
    """
    shape = service_model(service).operation_model(operation).output_shape
    headers: dict[str, str] = {}
    body = b""
    if isinstance(shape, StructureShape):
        payload = shape.serialization.get("payload")
        in_body: dict[str, Any] = {}
        for name, value in data.items():
            if value is None:
                continue
            member = shape.members[name]
            location = member.serialization.get("location")
            if location == "header":
                headers[member.serialization.get("name", name)] = _header_value(member, value)
            elif location == "headers":
                prefix = member.serialization.get("name", "")
                headers.update({prefix + k: str(v) for k, v in value.items()})
            elif location is None:
                in_body[name] = value
        if payload:
            member = shape.members[payload]
            if payload in in_body and member.type_name == "structure":
                body = _document(member.serialization.get("name", payload), member, in_body[payload])
        elif in_body:
            body = _document(root or operation + "Result", shape, in_body)
    return Response(body, 200, headers, media_type="application/xml" if body else None)


def _document(root: str, shape: Shape, data: Any) -> bytes:
    element = ET.Element(root, xmlns=S3_XMLNS)
    _fill(element, shape, data)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element)


def _fill(element: ET.Element, shape: Shape, value: Any) -> None:
    if isinstance(shape, StructureShape):
        for name, member_value in value.items():
            if member_value is None:
                continue
            member = shape.members[name]
            tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                for item in member_value:
                    _fill(ET.SubElement(element, tag), member.member, item)
            else:
                _fill(ET.SubElement(element, tag), member, member_value)
    elif shape.type_name == "list":
        item_shape = shape.member
        tag = item_shape.serialization.get("name", "member")
        for item in value:
            _fill(ET.SubElement(element, tag), item_shape, item)
    else:
        element.text = _scalar(shape, value)


def _scalar(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        return iso8601(value)
    return str(value)


def _header_value(shape: Shape, value: Any) -> str:
    if shape.type_name == "timestamp":
        return http_date(value)
    return _scalar(shape, value)


def iso8601(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(when * 1000) % 1000:03d}Z"


def http_date(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


# -- errors -----------------------------------------------------------------------------------
def error_response(protocol: str, error: AwsError, request_id: str, head: bool = False) -> Response:
    """`error` in the protocol's error shape; botocore reads the code and raises the matching class."""
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if head:  # HEAD answers carry no body: botocore takes the code from the status alone
        return Response(b"", error.status, headers)
    if protocol == "rest-xml":
        element = ET.Element("Error")
        for tag, text in (("Code", error.code), ("Message", error.message), ("RequestId", request_id)):
            ET.SubElement(element, tag).text = text
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element)
        return Response(body, error.status, headers, media_type="application/xml")
    if protocol == "query":
        root = ET.Element("ErrorResponse")
        inner = ET.SubElement(root, "Error")
        kind = "Sender" if error.sender else "Receiver"
        for tag, text in (("Type", kind), ("Code", error.code), ("Message", error.message)):
            ET.SubElement(inner, tag).text = text
        ET.SubElement(root, "RequestId").text = request_id
        return Response(ET.tostring(root), error.status, headers, media_type="text/xml")
    headers["x-amzn-ErrorType"] = error.code
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    return Response(body, error.status, headers, media_type="application/x-amz-json-1.1")
