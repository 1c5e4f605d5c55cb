"""Run the functions locally the way AWS Lambda does (not shipped in the Lambda zips).

`invoke(name, payload)` answers what `lambda.invoke` answers: `StatusCode`, `ExecutedVersion`,
the decoded `Payload`, and, when the handler raised, `FunctionError: "Unhandled"` with the
error document `{"errorType", "errorMessage", "stackTrace"}` as the payload. Step Functions
matches `errorType` against Retry/Catch `ErrorEquals`, so this is what makes them behave as
on AWS.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scones.errors import WorkflowError
from scones.functions import NAMES, _settings

Handler = Callable[[Any, Any], Any]
_handlers: dict[str, Handler] = {}
_stand_ins: set[str] = set()


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def handler_for(name: str) -> Handler:
    """The `handler` of scones function `name` (imported on first use)."""
    if name not in _handlers:
        if name not in NAMES:
            raise WorkflowError(f"No function named {name!r}; choose one of {', '.join(NAMES)}")
        module = importlib.import_module(f"scones.functions.{name}")
        _handlers[name] = module.handler
    return _handlers[name]


def use(name: str, handler: Handler | None) -> None:
    """Run `handler` under scones function name `name` in this process (benchmarks and tests run
    stand-ins this way); None goes back to the real handler."""
    if name not in NAMES:
        raise WorkflowError(f"No function named {name!r}; choose one of {', '.join(NAMES)}")
    if handler is None:
        _handlers.pop(name, None)
        _stand_ins.discard(name)
    else:
        _handlers[name] = handler
        _stand_ins.add(name)


def stand_ins() -> set[str]:
    """The function names that run a stand-in installed with `use` in this process."""
    return set(_stand_ins)


def error_document(exc: BaseException) -> dict[str, Any]:
    """Lambda's document for an unhandled exception."""
    # The frames as format_tb writes them, without the column markers it computes by parsing
    # each line's source (the largest cost of a failed invocation).
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": [
            f'  File "{f.filename}", line {f.lineno}, in {f.name}\n' + (f"    {f.line.strip()}\n" if f.line else "")
            for f in frames
        ],
    }


def invoke(
    name: str, payload: Any, handler: Handler | None = None, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call function `name` with the JSON-able `payload` as Lambda would; never raises for handler errors.

    `config` is the function's configuration (FunctionSettings fields), as a Lambda's environment is;
    None leaves it to the SCONES_* environment.
    """
    function = handler or handler_for(name)
    response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    token = _settings.overrides.set(config)
    try:
        event = wire_copy(payload)  # the handler gets a fresh copy, as over the wire
        result = function(event, LambdaContext(function_name=name))
        try:
            response["Payload"] = wire_copy(result)
        except (TypeError, ValueError) as exc:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
                "stackTrace": [],
            }
    except Exception as exc:  # noqa: BLE001 - the Lambda runtime boundary: every handler error becomes a document
        response["FunctionError"] = "Unhandled"
        response["Payload"] = error_document(exc)
    finally:
        _settings.overrides.reset(token)
    return response


_PLAIN = (str, int, float, bool, type(None))


def wire_copy(value: Any) -> Any:
    """What `json.loads(json.dumps(value))` returns (and raises), without encoding the strings.

    Payloads carry base64 images of several KB: encoding and decoding them twice per call was a
    measurable share of an execution. Plain dicts, lists and scalars are copied directly; any other
    type (tuples aside, which become lists as in JSON) takes the JSON round trip itself.
    """
    try:
        return _wire_copy(value)
    except RecursionError:  # a cycle: let json say so
        return json.loads(json.dumps(value))


def _wire_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict and all(type(key) is str for key in value):
        return {key: _wire_copy(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_wire_copy(item) for item in value]
    if kind in _PLAIN:
        return value
    return json.loads(json.dumps(value))


def config_from(settings: Any) -> dict[str, Any]:
    """The functions' configuration that matches scones `Settings` (home, store, endpoint, threshold)."""
    return {
        "home": settings.home,
        "storage": settings.storage,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "region": settings.region,
        "endpoint_name": settings.endpoint_name,
        "threshold": settings.threshold,
        "auth_token": settings.auth_token,
    }
