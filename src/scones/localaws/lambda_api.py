"""Lambda (REST-JSON): function CRUD over `Functions`, Invoke over warm `Pools`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from scones.localaws.environments import Invocation, Pools
from scones.localaws.functions import Functions
from scones.localaws.logstore import LogStore
from scones.localaws.objects import Objects
from scones.localaws.protocol import AwsError, match_operation, not_supported

MAX_PAYLOAD = 6 * 1024 * 1024  # synchronous invocation payload limit
LOG_TAIL = 4096


@dataclass
class Lambda:
    functions: Functions
    pools: Pools
    objects: Objects
    logs: LogStore

    def __post_init__(self) -> None:
        self.background: set[asyncio.Task[Invocation]] = set()

    async def handle(self, request: Request) -> Response:
        operation = match_operation("lambda", request.method, request.url.path, request.query_params, request.headers)
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise not_supported("lambda", operation)
        return await handler(self, request)

    # -- functions ------------------------------------------------------------------------------
    async def create_function(self, request: Request) -> Response:
        body = await _json(request)
        config = self.functions.create(body, self._zip(body.get("Code") or {}))
        return _json_response(config, 201)

    async def get_function(self, request: Request) -> Response:
        config = self.functions.get(_name(request))
        return _json_response({"Configuration": config, "Code": {"RepositoryType": "S3", "Location": ""}})

    async def get_function_configuration(self, request: Request) -> Response:
        return _json_response(self.functions.get(_name(request)))

    async def list_functions(self, request: Request) -> Response:
        return _json_response({"Functions": self.functions.list()})

    async def update_function_code(self, request: Request) -> Response:
        body = await _json(request)
        config = self.functions.update_code(_name(request), self._zip(body))
        self.pools.drop(config["FunctionName"])
        return _json_response(config)

    async def update_function_configuration(self, request: Request) -> Response:
        config = self.functions.update_configuration(_name(request), await _json(request))
        self.pools.drop(config["FunctionName"])
        return _json_response(config)

    async def delete_function(self, request: Request) -> Response:
        name = self.functions.get(_name(request))["FunctionName"]
        self.functions.delete(name)
        self.pools.drop(name)
        return Response(b"", 204)

    # -- invoke ---------------------------------------------------------------------------------
    async def invoke(self, request: Request) -> Response:
        config = self.functions.get(_name(request))
        event = await request.body()
        if len(event) > MAX_PAYLOAD:
            raise AwsError("RequestTooLargeException", "Request must be smaller than 6291456 bytes for Invoke", 413)
        try:
            json.loads(event or b"{}")
        except ValueError as exc:
            raise AwsError("InvalidRequestContentException", "Could not parse request body into json") from exc
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind == "DryRun":
            return Response(b"", 204)
        if kind == "Event":
            task = asyncio.create_task(self._invoke(config, event))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
            return Response(b"", 202)
        if kind != "RequestResponse":
            raise AwsError("InvalidParameterValueException", f"InvocationType {kind!r}: use RequestResponse or Event")
        result = await self._invoke(config, event)
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if result.error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("x-amz-log-type") == "Tail":
            tail = _log(result, config).encode()[-LOG_TAIL:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return Response(result.payload.encode(), 200, headers, media_type="application/json")

    async def invoke_for_states(self, function: str, payload: Any) -> dict[str, Any] | None:
        """What `lambda.invoke` answers, decoded, for a Step Functions task; None if no such function."""
        try:
            config = self.functions.get(function)
        except AwsError:
            return None
        result = await self._invoke(config, json.dumps(payload).encode())
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        response["Payload"] = json.loads(result.payload) if result.payload else None
        if result.error:
            response["FunctionError"] = "Unhandled"
        return response

    async def _invoke(self, config: dict[str, Any], event: bytes) -> Invocation:
        """Run one invocation and write its log to /aws/lambda/<name>, as the Lambda runtime does."""
        result = await self.pools.invoke(config, self.functions.code_dir(config["FunctionName"]), event)
        lines = _log(result, config).rstrip("\n").split("\n")
        self.logs.append(f"/aws/lambda/{config['FunctionName']}", result.stream, lines)
        return result

    def _zip(self, code: dict[str, Any]) -> bytes:
        if "ZipFile" in code:
            try:
                return base64.b64decode(code["ZipFile"], validate=True)
            except (binascii.Error, TypeError) as exc:
                raise AwsError("InvalidParameterValueException", "Code.ZipFile is not base64") from exc
        if "S3Bucket" in code and "S3Key" in code:
            self.objects.head(code["S3Bucket"], code["S3Key"])
            return self.objects.path(code["S3Bucket"], code["S3Key"]).read_bytes()
        if "ImageUri" in code:
            raise AwsError("InvalidParameterValueException", "Container images are not supported locally; upload a zip")
        raise AwsError("InvalidParameterValueException", "Give the code as ZipFile or S3Bucket and S3Key")


def _log(result: Invocation, config: dict[str, Any]) -> str:
    """The log the Lambda runtime writes: START, the function's output, END and REPORT."""
    rid = result.request_id
    report = (
        f"REPORT RequestId: {rid}\tDuration: {result.duration_ms:.2f} ms\t"
        f"Billed Duration: {int(result.duration_ms) + 1} ms\tMemory Size: {config['MemorySize']} MB\t"
    )
    if result.cold:
        report += f"Init Duration: {result.init_ms:.2f} ms\t"
    return f"START RequestId: {rid} Version: $LATEST\n{result.log}END RequestId: {rid}\n{report}\n"


def _name(request: Request) -> str:
    """The FunctionName from `/2015-03-31/functions/{FunctionName}/...` (an ARN keeps its colons)."""
    parts = request.url.path.split("/")
    return unquote(parts[3]) if len(parts) > 3 else ""


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise AwsError("InvalidRequestContentException", "Could not parse request body into json") from exc
    if not isinstance(body, dict):
        raise AwsError("InvalidRequestContentException", "The request body must be a JSON object")
    return body


def _json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data).encode(), status, media_type="application/json")


_Handler = Callable[[Lambda, Request], Awaitable[Response]]
OPERATIONS: dict[str, _Handler] = {
    "CreateFunction": Lambda.create_function,
    "GetFunction": Lambda.get_function,
    "GetFunctionConfiguration": Lambda.get_function_configuration,
    "ListFunctions": Lambda.list_functions,
    "UpdateFunctionCode": Lambda.update_function_code,
    "UpdateFunctionConfiguration": Lambda.update_function_configuration,
    "DeleteFunction": Lambda.delete_function,
    "Invoke": Lambda.invoke,
}
