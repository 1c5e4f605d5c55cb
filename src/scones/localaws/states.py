"""Step Functions (JSON 1.0) over scones' workflow stage: the same state machines and executions.

A state machine created here is a scones state machine (`scones.workflow.machines`, so `scones
workflow list` shows it and `scones workflow graph` draws it); its AWS-only fields (type, role)
sit beside it in `<home>/localaws/states/machines/<name>.json`. Executions are scones executions
(`scones.workflow.executions` and `records`, in `state.db`), so `scones workflow list-executions`
and the console's executions page show them: EXPRESS ones run in a worker thread, STANDARD ones
are durable DBOS workflows (`scones.workflow.standard`) that a restart of `scones up` resumes.

Every Lambda task is bound to `api:<name>` (`tasks.register_api`): it resolves by name, when it
runs, to a function created through the Lambda API (any region, account or qualifier), then to
scones' three built-in functions. The workflow stage names its ARNs with account 123456789012;
this API answers with the configured account and region, and maps one to the other by name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from scones.config import Settings
from scones.errors import SconesError, WorkflowError
from scones.functions import NAMES
from scones.localaws.lambda_api import Lambda
from scones.localaws.protocol import AwsError, json_call
from scones.workflow import definition as asl, executions, machines, records, tasks
from scones.workflow.records import Execution

logger = logging.getLogger(__name__)
T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_encode = json.JSONEncoder(separators=(",", ":")).encode
# EXPRESS executions started with StartExecution run on this many threads: started faster than
# they finish, they wait their turn in a queue instead of all competing for the one GIL at once.
EXPRESS_RUNNERS = 8


class States:
    def __init__(self, settings: Settings, lambda_: Lambda, region: str, account_id: str) -> None:
        self.settings, self.lambda_, self.region, self.account_id = settings, lambda_, region, account_id
        self.root = settings.home / "localaws" / "states"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running: dict[str, Execution] = {}  # EXPRESS executions started here, until they are recorded
        self._metas: dict[str, dict[str, Any]] = {}
        self.stopping = threading.Event()
        self._express_queue: queue.SimpleQueue[tuple[Execution, machines.StateMachine]] = queue.SimpleQueue()
        self._express_runners: list[threading.Thread] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind `api:` tasks to this server's Lambda API, then resume STANDARD executions a stop interrupted."""
        self.loop = loop
        tasks.register_api(self._api_call)
        threading.Thread(target=self._resume, name="states-resume", daemon=True).start()

    def stop(self) -> None:
        """The server is stopping: a Lambda task in flight never returns, so its STANDARD execution
        stays RUNNING (not FAILED by the workers' exit) and the next `scones up` resumes it."""
        self.stopping.set()
        tasks.register_api(None)

    def _resume(self) -> None:
        """Finish the STANDARD executions whose runner died, each in a daemon thread (as
        `standard.resume_orphans` does, whose pool threads a stopping server would wait for)."""
        try:
            orphans = records.orphans(self.settings)
            if orphans:
                from scones.workflow import launcher  # DBOS takes ~1.5 s to import: only when needed

                launcher.ensure(self.settings)
                logger.warning("scones up resumes %d STANDARD execution(s)", len(orphans))
            for execution in orphans:
                self._background(self._resume_one, execution)
        except Exception:  # a broken execution must not take the server down; it stays RUNNING
            logger.exception("resuming interrupted STANDARD executions failed")

    def _resume_one(self, execution: Execution) -> None:
        from scones.workflow import durable, standard

        records.claim(self.settings, execution.arn)
        if not durable.resume(execution.arn):  # from its last finished step, or from the start
            standard.run(self.settings, execution)

    async def handle(self, request: Request) -> Response:
        if self.loop is None:  # served without a lifespan (tests of the bare app)
            self.start(asyncio.get_running_loop())
        handler, body = await json_call(request, OPERATIONS, "stepfunctions")
        result = await handler(self, body)
        return Response(_encode(result).encode(), 200, media_type="application/x-amz-json-1.0")

    # -- state machines ---------------------------------------------------------------------------
    async def create_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _valid_name(body.get("name"), "state machine")
        kind = body.get("type", "STANDARD")
        if kind not in ("STANDARD", "EXPRESS"):
            raise AwsError("ValidationException", f"type {kind!r}: use STANDARD or EXPRESS")
        if self._exists(name):
            raise AwsError("StateMachineAlreadyExists", f"State Machine Already Exists: '{self._machine_arn(name)}'")
        self._save_machine(name, str(body.get("definition", "")))
        meta = {"type": kind, "roleArn": str(body.get("roleArn", "")), "creationDate": time.time()}
        self._save_meta(name, meta)
        return {"stateMachineArn": self._machine_arn(name), "creationDate": meta["creationDate"]}

    async def describe_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._describe_machine(self._machine(body.get("stateMachineArn")))

    async def list_state_machines(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = ("stateMachineArn", "name", "type", "creationDate")
        found = [self._describe_machine(m) for m in machines.list_all(self.settings)]
        page, token = _page(found, body)
        return {"stateMachines": [{k: m[k] for k in keys} for m in page], **token}

    async def update_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(body.get("stateMachineArn"))
        if "definition" in body:
            self._save_machine(machine.name, str(body["definition"]))
        meta = self._meta(machine.name)
        if "roleArn" in body:
            meta["roleArn"] = str(body["roleArn"])
        meta["updateDate"] = time.time()
        self._save_meta(machine.name, meta)
        return {"updateDate": meta["updateDate"]}

    async def delete_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(body.get("stateMachineArn"))
        machines.delete(self.settings, machine.name)
        self._save_meta(machine.name, None)
        return {}

    # -- executions -------------------------------------------------------------------------------
    async def start_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        machine, execution = self._prepare(body)
        if execution.type == "STANDARD":
            from scones.workflow import standard

            self._background(standard.run, self.settings, execution, machine)
        else:
            self.running[execution.arn] = execution
            self._queue_express(execution, machine)
        return {"executionArn": self._api_arn(execution.arn), "startDate": _epoch(execution.started)}

    async def start_sync_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(body.get("stateMachineArn"))
        if self._meta(machine.name).get("type") != "EXPRESS":
            raise AwsError(
                "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine"
            )
        machine, execution = self._prepare(body, machine)
        final = await asyncio.to_thread(executions.run_express, self.settings, execution, machine=machine)
        return self._describe(final)

    async def describe_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._execution(body.get("executionArn")))

    async def get_execution_history(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(body.get("executionArn"))
        events = [_aws_event(e) for e in records.history(self.settings, execution)]
        page, token = _page(list(reversed(events)) if body.get("reverseOrder") else events, body)
        return {"events": page, **token}

    async def list_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self._machine(body.get("stateMachineArn"))
        status = body.get("statusFilter")
        if status is not None and status not in records.STATUSES + ("PENDING_REDRIVE",):
            raise AwsError("ValidationException", f"statusFilter {status!r}: use one of {', '.join(records.STATUSES)}")
        found = records.list_for(self.settings, machine.name, status, limit=1 << 30)
        running = [e for e in self.running.values() if e.state_machine == machine.name and status in (None, "RUNNING")]
        keys = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate")
        page, token = _page(running + found, body)  # paged first: only the page is described
        return {"executions": [{k: v for k, v in self._describe(e).items() if k in keys} for e in page], **token}

    async def stop_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(body.get("executionArn"))
        if execution.type == "EXPRESS":
            raise AwsError("ValidationException", "StopExecution is not supported for EXPRESS executions")
        error, cause = body.get("error"), body.get("cause")
        events = [
            _event(1, 0, "ExecutionStarted", "executionStartedEventDetails", {"input": execution.input}),
            _event(2, 1, "ExecutionAborted", "executionAbortedEventDetails", {"error": error, "cause": cause}),
        ]
        if records.abort(self.settings, execution.arn, events, error, cause):
            await asyncio.to_thread(_cancel_workflow, execution.arn)
        return {"stopDate": _epoch(records.get(self.settings, execution.arn).stopped)}

    def _prepare(self, body: dict[str, Any], machine: machines.StateMachine | None = None) -> tuple[Any, Execution]:
        machine = machine or self._machine(body.get("stateMachineArn"))
        name = _valid_name(body.get("name") or str(uuid.uuid4()), "execution")
        try:
            execution_input = json.loads(body.get("input") or "{}")
        except (TypeError, ValueError) as exc:
            raise AwsError("InvalidExecutionInput", "Invalid State Machine Execution Input: input is not JSON") from exc
        kind = self._meta(machine.name).get("type", "STANDARD")
        arn = executions.execution_arn(self.settings, machine.name, name, kind)
        if arn in self.running or (kind == "EXPRESS" and self._recorded(arn)):
            raise AwsError("ExecutionAlreadyExists", f"Execution Already Exists: '{self._api_arn(arn)}'")
        try:
            return machine, executions.prepare(
                self.settings, machine.name, execution_input, name=name, type_=kind, machine=machine
            )
        except WorkflowError as exc:
            raise AwsError("ExecutionAlreadyExists", f"Execution Already Exists: '{self._api_arn(arn)}'") from exc

    def _express(self, execution: Execution, machine: machines.StateMachine) -> None:
        try:
            executions.run_express(self.settings, execution, machine=machine)
        finally:
            self.running.pop(execution.arn, None)

    def _queue_express(self, execution: Execution, machine: machines.StateMachine) -> None:
        if len(self._express_runners) < EXPRESS_RUNNERS:  # started as they are first needed
            runner = threading.Thread(target=self._run_express_queue, name="states-express", daemon=True)
            self._express_runners.append(runner)
            runner.start()
        self._express_queue.put((execution, machine))

    def _run_express_queue(self) -> None:
        while True:  # a daemon thread: it ends with the process, as the other execution threads do
            execution, machine = self._express_queue.get()
            try:
                self._express(execution, machine)
            except Exception:  # noqa: BLE001 - one execution's failure must not stop the runner
                logger.exception("EXPRESS execution %s failed to run", execution.arn)

    def _background(self, function: Callable[..., Any], *args: Any) -> None:
        """Run `function` in a worker thread after the answer; its failure is logged, not lost."""

        def run() -> None:
            try:
                function(*args)
            except SconesError as exc:  # e.g. Map/Parallel refused for STANDARD: recorded as FAILED
                logger.warning("execution failed to run: %s", exc)

        # A daemon thread, not the loop's executor: stopping the server must not wait for executions.
        threading.Thread(target=run, name="states-execution", daemon=True).start()

    def _hold_if_stopping(self) -> None:
        if self.stopping.is_set():
            threading.Event().wait()  # an execution thread is a daemon: the process exits without it

    def _api_call(self, function: str, payload: Any) -> dict[str, Any]:
        """A Lambda task, in the engine's thread: the API's function by that name, else a built-in one."""
        assert self.loop is not None  # noqa: S101 - start() ran before any execution
        self._hold_if_stopping()
        future = asyncio.run_coroutine_threadsafe(self.lambda_.invoke_for_states(function, payload), self.loop)
        response = future.result()
        self._hold_if_stopping()  # an answer now may be the stopped workers' exit: record nothing
        if response is not None:
            return response
        if function in NAMES:
            from scones.functions import runtime

            return runtime.invoke(function, payload, config=runtime.config_from(self.settings))
        from botocore.exceptions import ClientError

        # What Lambda answers; the interpreter names it Lambda.ResourceNotFoundException.
        error = {"Code": "ResourceNotFoundException", "Message": f"Function not found: {function}"}
        metadata = {"HTTPStatusCode": 404, "RequestId": str(uuid.uuid4())}
        raise ClientError({"Error": error, "ResponseMetadata": metadata}, "Invoke")

    # -- names, records and storage ---------------------------------------------------------------
    def _machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"

    def _api_arn(self, record_arn: str) -> str:
        """An execution's ARN in this API's account and region (the records use the workflow stage's)."""
        parts = record_arn.split(":")
        return ":".join(parts[:3] + [self.region, self.account_id] + parts[5:])

    def _exists(self, name: str) -> bool:
        try:
            machines.get(self.settings, name)
        except WorkflowError:
            return False
        return True

    def _save_machine(self, name: str, definition: str) -> None:
        try:
            tasks_ = asl.check(asl.load(definition))
            machines.create(self.settings, name, definition, {t.function: asl.API_PREFIX + t.function for t in tasks_})
        except WorkflowError as exc:
            raise AwsError("InvalidDefinition", f"Invalid State Machine Definition: {exc}") from exc

    def _machine(self, arn: Any) -> machines.StateMachine:
        name = str(arn or "").rsplit(":", 1)[-1]
        if not str(arn or "").startswith("arn:aws:states:") or not _NAME.match(name):
            raise AwsError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'")
        try:
            return machines.get(self.settings, name)
        except WorkflowError as exc:
            raise AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'") from exc

    def _meta_path(self, name: str) -> Path:
        return self.root / "machines" / f"{name}.json"

    def _meta(self, name: str) -> dict[str, Any]:
        """A machine's AWS-only fields (a copy; read once: only this server writes them); {} for a
        machine made by `scones workflow create`, which is STANDARD."""
        if name not in self._metas:
            path = self._meta_path(name)
            self._metas[name] = json.loads(path.read_text()) if path.is_file() else {}
        return dict(self._metas[name])

    def _save_meta(self, name: str, meta: dict[str, Any] | None) -> None:
        self._metas.pop(name, None)
        if meta is None:
            self._meta_path(name).unlink(missing_ok=True)
        else:
            _write(self._meta_path(name), meta)

    def _describe_machine(self, machine: machines.StateMachine) -> dict[str, Any]:
        meta = self._meta(machine.name)
        return {
            "stateMachineArn": self._machine_arn(machine.name),
            "name": machine.name,
            "status": "ACTIVE",
            "definition": machine.definition,
            "roleArn": meta.get("roleArn") or f"arn:aws:iam::{self.account_id}:role/scones-states-execution",
            "type": meta.get("type", "STANDARD"),
            "creationDate": meta.get("creationDate") or _epoch(machine.created),
        }

    def _recorded(self, arn: str) -> bool:
        return records.find(self.settings, arn) is not None

    def _execution(self, api_arn: Any) -> Execution:
        parts = str(api_arn or "").split(":")
        if len(parts) != 8 or parts[:3] != ["arn", "aws", "states"] or parts[5] not in ("execution", "express"):
            raise AwsError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {api_arn}'")
        arn = executions.execution_arn(
            self.settings, parts[6], parts[7], "EXPRESS" if parts[5] == "express" else "STANDARD"
        )
        execution = self.running.get(arn) or records.find(self.settings, arn)
        if execution is None:
            raise AwsError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{api_arn}'")
        return execution

    def _describe(self, execution: Execution) -> dict[str, Any]:
        fields = execution.describe(self._machine_arn(execution.state_machine))
        fields["executionArn"] = self._api_arn(execution.arn)
        fields["startDate"] = _epoch(fields["startDate"])
        fields["stopDate"] = _epoch(fields["stopDate"]) if fields.get("stopDate") else None
        return {k: v for k, v in fields.items() if v is not None}


def _cancel_workflow(arn: str) -> None:
    """Stop a STANDARD execution's DBOS workflow at its next step (DBOS runs in this process by now)."""
    from dbos import DBOS

    try:
        DBOS.cancel_workflow(arn)
    except Exception:  # noqa: BLE001 - already finished or never started: the record says ABORTED either way
        logger.debug("cancel of %s", arn, exc_info=True)


def _page(items: list[T], body: dict[str, Any]) -> tuple[list[T], dict[str, str]]:
    """One page of `items` (maxResults, 100 by default; nextToken an offset), as the paginators expect."""
    token = str(body.get("nextToken") or "0")
    if not token.isdigit():
        raise AwsError("InvalidToken", f"Invalid Token: {token!r}")
    start, size = int(token), int(body.get("maxResults") or 100)
    if not 1 <= size <= 1000:
        raise AwsError("ValidationException", "maxResults must be between 1 and 1000")
    more = {"nextToken": str(start + size)} if start + size < len(items) else {}
    return items[start : start + size], more


def _valid_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise AwsError("InvalidName", f"Invalid {what} name {name!r}: use 1-80 letters, digits, '-' or '_'")
    return name


def _epoch(stamp: Any) -> float:
    """An ISO time from the records as the epoch seconds JSON 1.0 carries."""
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _event(event_id: int, previous: int, kind: str, key: str, details: dict[str, Any]) -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    event = {"id": event_id, "previousEventId": previous, "timestamp": stamp, "type": kind}
    event[key] = {k: v for k, v in details.items() if v is not None}
    return event


def _aws_event(event: dict[str, Any]) -> dict[str, Any]:
    """A recorded history event with its timestamp as epoch seconds."""
    out = dict(event)
    out["timestamp"] = _epoch(out.get("timestamp"))
    return out


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
    "ListExecutions": States.list_executions,
    "StopExecution": States.stop_execution,
}
