"""One Lambda execution environment: imports the handler once, then runs invocations from stdin.

Run as a script (`python lambda_worker.py HANDLER`) in the function's code folder, with the
environment the Lambda runtime sets. Standard library only: the user's code must see only its own
imports and boto3. Each request is one JSON line; each reply is one JSON line on a private copy of
stdout (fd 1 itself goes to stderr, so a print from C code cannot corrupt the protocol).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import signal
import sys
import time
import traceback
from typing import Any


class Context:
    """The `context` argument, with the attributes the Python runtime gives it."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id = request["request_id"]
        self.function_name = request["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = request["function_arn"]
        self.memory_limit_in_mb = request["memory"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = request["log_stream"]
        self.identity = None
        self.client_context = None
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(kind: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": kind, "requestId": "", "stackTrace": stack or []}


def _load(handler: str) -> tuple[Any, dict[str, Any] | None]:
    module_name, _, function = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:  # the runtime's edge: any import failure is the user's, reported as AWS does
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    if not hasattr(module, function):
        return None, _error("Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_name}'")
    return getattr(module, function), None


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the server stops its environments itself
    # (after marking its STANDARD executions as stopping), so one dying first would fail their task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # /proc/self/cwd follows the working folder even when a private /tmp now covers its path
    sys.path.insert(0, "/proc/self/cwd" if os.path.isdir("/proc/self/cwd") else os.getcwd())
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    init_log = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(init_log), contextlib.redirect_stderr(init_log):
        handler, init_error = _load(sys.argv[1])
    init_ms = (time.perf_counter() - started) * 1000
    # Ready: the invocation's timeout starts now, as Lambda times the init phase separately.
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        log = io.StringIO()
        log.write(init_log.getvalue())
        init_log = io.StringIO()
        error, payload = init_error, None
        if error is None:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                try:
                    result = handler(json.loads(request["event"]), Context(request))
                except Exception as exc:  # the handler's edge: Lambda reports any exception as Unhandled
                    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                    error = _error(type(exc).__name__, str(exc), frames)
                    print(f"[ERROR] {type(exc).__name__}: {exc}")
            if error is None:
                try:
                    payload = json.dumps(result)
                except (TypeError, ValueError) as exc:
                    error = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        reply = {"payload": payload, "error": error, "log": log.getvalue(), "init_ms": init_ms}
        init_ms = 0.0
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
