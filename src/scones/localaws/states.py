"""Step Functions (JSON 1.0) over scones' ASL engine, with Task calls bound to the Lambda API's functions.

State machines and executions are JSON files under `<home>/localaws/states/`. Each execution runs
on `scones.workflow.engine.run` (moto's copy of LocalStack's interpreter) in a worker thread; its
Lambda tasks (`arn:aws:states:::lambda:invoke` or a bare function ARN, any region, account or
qualifier) resolve by name to functions created through the Lambda API, then to scones' three
built-in functions. StartSyncExecution answers when an EXPRESS execution ends; StartExecution
returns at once and the execution runs in the background.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from scones.config import Settings
from scones.errors import WorkflowError
from scones.localaws.lambda_api import Lambda
from scones.localaws.protocol import AwsError, json_call

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class States:
    def __init__(self, settings: Settings, lambda_: Lambda, region: str, account_id: str) -> None:
        self.settings, self.lambda_, self.region, self.account_id = settings, lambda_, region, account_id
        self.root = settings.home / "localaws" / "states"
        self.background: set[asyncio.Task[None]] = set()

    async def handle(self, request: Request) -> Response:
        handler, body = await json_call(request, OPERATIONS, "stepfunctions")
        result = await handler(self, body)
        return Response(json.dumps(result).encode(), 200, media_type="application/x-amz-json-1.0")

    # -- state machines ---------------------------------------------------------------------------
    async def create_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _valid_name(body.get("name"), "state machine")
        definition = str(body.get("definition", ""))
        _check_definition(definition)
        kind = body.get("type", "STANDARD")
        if kind not in ("STANDARD", "EXPRESS"):
            raise AwsError("ValidationException", f"type {kind!r}: use STANDARD or EXPRESS")
        path = self._machine_path(name)
        if path.is_file():
            raise AwsError("StateMachineAlreadyExists", f"State Machine Already Exists: '{self._machine_arn(name)}'")
        machine = {
            "stateMachineArn": self._machine_arn(name),
            "name": name,
            "status": "ACTIVE",
            "definition": definition,
            "roleArn": str(body.get("roleArn", "")),
            "type": kind,
            "creationDate": time.time(),
        }
        _write(path, machine)
        return {"stateMachineArn": machine["stateMachineArn"], "creationDate": machine["creationDate"]}

    async def describe_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._machine(str(body.get("stateMachineArn", "")))

    async def list_state_machines(self, body: dict[str, Any]) -> dict[str, Any]:
        folder = self.root / "machines"
        machines = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        keys = ("stateMachineArn", "name", "type", "creationDate")
        return {"stateMachines": [{k: m[k] for k in keys} for m in machines]}

    async def update_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(str(body.get("stateMachineArn", "")))
        if "definition" in body:
            _check_definition(str(body["definition"]))
            machine["definition"] = str(body["definition"])
        if "roleArn" in body:
            machine["roleArn"] = str(body["roleArn"])
        _write(self._machine_path(machine["name"]), machine)
        return {"updateDate": time.time()}

    async def delete_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(str(body.get("stateMachineArn", "")))
        self._machine_path(machine["name"]).unlink(missing_ok=True)
        return {}

    # -- executions -------------------------------------------------------------------------------
    async def start_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        machine, execution = self._new_execution(body)
        task = asyncio.create_task(self._run(machine, execution))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return {"executionArn": execution["executionArn"], "startDate": execution["startDate"]}

    async def start_sync_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        machine, execution = self._new_execution(body)
        if machine["type"] != "EXPRESS":
            raise AwsError(
                "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine"
            )
        await self._run(machine, execution)
        return {k: v for k, v in self._execution(execution["executionArn"]).items() if k != "events"}

    async def describe_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(str(body.get("executionArn", "")))
        return {k: v for k, v in execution.items() if k != "events" and v is not None}

    async def get_execution_history(self, body: dict[str, Any]) -> dict[str, Any]:
        events = self._execution(str(body.get("executionArn", "")))["events"]
        return {"events": list(reversed(events)) if body.get("reverseOrder") else events}

    def _new_execution(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        machine = self._machine(str(body.get("stateMachineArn", "")))
        name = _valid_name(body.get("name") or str(uuid.uuid4()), "execution")
        raw_input = body.get("input", "{}")
        try:
            json.loads(raw_input)
        except (TypeError, ValueError) as exc:
            raise AwsError("InvalidExecutionInput", "Invalid State Machine Execution Input: input is not JSON") from exc
        kind = "express" if machine["type"] == "EXPRESS" else "execution"
        arn = f"arn:aws:states:{self.region}:{self.account_id}:{kind}:{machine['name']}:{name}"
        if self._execution_path(arn).is_file():
            raise AwsError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        execution = {
            "executionArn": arn,
            "stateMachineArn": machine["stateMachineArn"],
            "name": name,
            "status": "RUNNING",
            "startDate": time.time(),
            "input": raw_input,
            "events": [],
        }
        _write(self._execution_path(arn), execution)
        return machine, execution

    async def _run(self, machine: dict[str, Any], execution: dict[str, Any]) -> None:
        from scones.workflow import engine

        loop = asyncio.get_running_loop()
        call = self._task_call(loop)
        args = (machine["definition"], json.loads(execution["input"]), call)
        kw = {"execution_arn": execution["executionArn"], "state_machine_arn": machine["stateMachineArn"]}
        outcome = await asyncio.to_thread(engine.run, *args, express=machine["type"] == "EXPRESS", **kw)
        execution.update(
            status=outcome.status,
            stopDate=time.time(),
            output=json.dumps(outcome.output) if outcome.status == "SUCCEEDED" else None,
            error=outcome.error,
            cause=outcome.cause,
            events=[_aws_event(e) for e in outcome.events],
        )
        _write(self._execution_path(execution["executionArn"]), execution)

    def _task_call(self, loop: asyncio.AbstractEventLoop) -> Callable[[str, Any], dict[str, Any]]:
        """Runs in the engine's thread: a Lambda task goes to the API's function, else a built-in one."""

        def call(function: str, payload: Any) -> dict[str, Any]:
            future = asyncio.run_coroutine_threadsafe(self.lambda_.invoke_for_states(function, payload), loop)
            response = future.result()
            if response is not None:
                return response
            from scones.functions import NAMES, runtime

            if function in NAMES:
                return runtime.invoke(function, payload, config=runtime.config_from(self.settings))
            from botocore.exceptions import ClientError

            # What Lambda answers; the interpreter names it Lambda.ResourceNotFoundException.
            error = {"Code": "ResourceNotFoundException", "Message": f"Function not found: {function}"}
            metadata = {"HTTPStatusCode": 404, "RequestId": str(uuid.uuid4())}
            raise ClientError({"Error": error, "ResponseMetadata": metadata}, "Invoke")

        return call

    # -- storage ----------------------------------------------------------------------------------
    def _machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"

    def _machine_path(self, name: str) -> Path:
        return self.root / "machines" / f"{name}.json"

    def _machine(self, arn: str) -> dict[str, Any]:
        name = arn.rsplit(":", 1)[-1]
        path = self._machine_path(name) if _NAME.match(name) else None
        if path is None or not path.is_file():
            raise AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        machine: dict[str, Any] = json.loads(path.read_text())
        return machine

    def _execution_path(self, arn: str) -> Path:
        return self.root / "executions" / (quote(arn, safe="") + ".json")

    def _execution(self, arn: str) -> dict[str, Any]:
        path = self._execution_path(arn)
        if not arn.startswith("arn:aws:states:") or not path.is_file():
            raise AwsError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        execution: dict[str, Any] = json.loads(path.read_text())
        return execution


def _valid_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise AwsError("InvalidName", f"Invalid {what} name {name!r}: use 1-80 letters, digits, '-' or '_'")
    return name


def _check_definition(definition: str) -> None:
    from scones.workflow import engine

    try:
        engine.parse(definition)
    except WorkflowError as exc:
        raise AwsError("InvalidDefinition", f"Invalid State Machine Definition: {exc}") from exc


def _aws_event(event: dict[str, Any]) -> dict[str, Any]:
    """An engine history event with its timestamp as the epoch seconds JSON 1.0 carries."""
    out = dict(event)
    stamp = str(out.get("timestamp", ""))
    try:
        out["timestamp"] = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        out["timestamp"] = time.time()
    return json.loads(json.dumps(out, default=str))  # type: ignore[no-any-return]


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


_Handler = Callable[[States, dict[str, Any]], Awaitable[dict[str, Any]]]
OPERATIONS: dict[str, _Handler] = {
    "CreateStateMachine": States.create_state_machine,
    "DescribeStateMachine": States.describe_state_machine,
    "ListStateMachines": States.list_state_machines,
    "UpdateStateMachine": States.update_state_machine,
    "DeleteStateMachine": States.delete_state_machine,
    "StartExecution": States.start_execution,
    "StartSyncExecution": States.start_sync_execution,
    "DescribeExecution": States.describe_execution,
    "GetExecutionHistory": States.get_execution_history,
}
