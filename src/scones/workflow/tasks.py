"""Calling a task: the local function a Lambda name is bound to, and one timed Lambda call.

Both execution types call tasks through here. EXPRESS uses `task_call` as is; the two
STANDARD backends (`durable` on SQLite, `workers` on Postgres) wrap `timed_invoke` in a DBOS
step, so a finished call is recorded once and replayed, not run again, after a crash.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, TypedDict

from scones.config import Settings
from scones.errors import WorkflowError
from scones.functions import runtime
from scones.workflow import engine
from scones.workflow.definition import API_PREFIX

_api_call: engine.TaskCall | None = None  # set by `scones up`: calls a function of its Lambda API by name


class TimedCall(TypedDict):
    """One Lambda call: its response, and what the execution record shows of it (a step row)."""

    response: dict[str, Any]
    function: str
    status: str  # SUCCEEDED | FAILED
    error: str | None
    duration_ms: float


def bound(bindings: dict[str, str], function: str) -> str:
    """The local function bound to Lambda name `function`; Lambda's own error for an unknown one."""
    if function not in bindings:
        from botocore.exceptions import ClientError

        # What Lambda answers for an unknown function; the interpreter names it Lambda.ResourceNotFoundException.
        raise ClientError(
            {
                "Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {function}"},
                "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": str(uuid.uuid4())},
            },
            "Invoke",
        )
    return bindings[function]


def register_api(call: engine.TaskCall | None) -> None:
    """Bind `api:` functions (state machines created through `scones up`) to its Lambda API; None unbinds."""
    global _api_call
    _api_call = call


def invoke(local: str, payload: Any, config: dict[str, Any] | None) -> dict[str, Any]:
    """Run bound function `local` as Lambda would: a scones function, or one of `scones up`'s Lambda API."""
    if not local.startswith(API_PREFIX):
        return runtime.invoke(local, payload, config=config)
    if _api_call is None:
        raise WorkflowError(
            f"Function {local[len(API_PREFIX) :]!r} was created through the Lambda API of 'scones up'; "
            "run this execution there (start 'scones up', which resumes it)"
        )
    return _api_call(local[len(API_PREFIX) :], payload)


def task_call(settings: Settings, bindings: dict[str, str]) -> engine.TaskCall:
    """A task call that runs the bound function the way Lambda would, configured from `settings`."""
    config = runtime.config_from(settings)

    def call(function: str, payload: Any) -> dict[str, Any]:
        return invoke(bound(bindings, function), payload, config)

    return call


def timed_invoke(function: str, payload: Any, config: dict[str, Any] | None) -> TimedCall:
    """Run local function `function` as Lambda would and time it (`config`: the home and endpoint it uses)."""
    started = time.perf_counter()
    response = invoke(function, payload, config)
    failed = "FunctionError" in response
    body = response.get("Payload")
    return {
        "response": response,
        "function": function,
        "status": "FAILED" if failed else "SUCCEEDED",
        "error": body.get("errorType") if failed and isinstance(body, dict) else None,
        "duration_ms": (time.perf_counter() - started) * 1000,
    }
