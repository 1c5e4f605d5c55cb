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
from scones.functions import runtime
from scones.workflow import engine


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


def task_call(settings: Settings, bindings: dict[str, str]) -> engine.TaskCall:
    """A task call that runs the bound scones function the way Lambda would, configured from `settings`."""
    config = runtime.config_from(settings)

    def call(function: str, payload: Any) -> dict[str, Any]:
        return runtime.invoke(bound(bindings, function), payload, config=config)

    return call


def timed_invoke(function: str, payload: Any, config: dict[str, Any] | None) -> TimedCall:
    """Run local function `function` as Lambda would and time it (`config`: the home and endpoint it uses)."""
    started = time.perf_counter()
    response = runtime.invoke(function, payload, config=config)
    failed = "FunctionError" in response
    body = response.get("Payload")
    return {
        "response": response,
        "function": function,
        "status": "FAILED" if failed else "SUCCEEDED",
        "error": body.get("errorType") if failed and isinstance(body, dict) else None,
        "duration_ms": (time.perf_counter() - started) * 1000,
    }
