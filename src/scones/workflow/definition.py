"""State machine definitions: the static checks scones makes before running one locally.

The local interpreter runs JSONPath ASL with Lambda tasks. Anything it cannot run faithfully
here is refused up front with the feature's name: JSONata (`QueryLanguage`, `Arguments`,
`Output`, `{% %}` expressions), task `Credentials`, activities and service integrations other
than `lambda:invoke` (they would call real AWS services). Each Lambda task names a function;
`task_functions` lists them so the state machine can bind each one to a local handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scones.errors import WorkflowError
from scones.functions import NAMES

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:(?P<name>[\w-]+)(:[\w$-]+)?$")
_PARTIAL_ARN = re.compile(r"^(\d{12}:function:)?(?P<name>[\w-]+)(:[\w$-]+)?$")
_JSONATA_ONLY_FIELDS = ("Arguments", "Output")
# A binding to a function of `scones up`'s Lambda API: resolved by name when the task runs (tasks.register_api)
API_PREFIX = "api:"


@dataclass(frozen=True)
class Task:
    """One Lambda task state: its name, the function it calls, and how the ARN named it."""

    state: str
    function: str
    function_ref: str


def load(text: str) -> dict[str, Any]:
    """Parse definition JSON into a dict, refusing what is not a state machine."""
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"The definition is not JSON: {exc}; export it again as Amazon States Language") from exc
    if not isinstance(definition, dict) or "States" not in definition or "StartAt" not in definition:
        raise WorkflowError("The definition has no 'StartAt' and 'States'; give an Amazon States Language document")
    return definition


def function_name(ref: str) -> str:
    """The function name in any Lambda reference: full ARN (any region, account, version or alias),
    partial ARN, or plain name (optionally with `:alias`)."""
    for pattern in (_LAMBDA_ARN, _PARTIAL_ARN):
        match = pattern.match(ref)
        if match:
            return match.group("name")
    raise WorkflowError(f"Cannot read a Lambda function name from {ref!r}; use a function ARN or name")


def _states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those nested in Parallel branches and Map item processors."""
    for name, state in states.items():
        if not isinstance(state, dict):
            raise WorkflowError(f"State {name!r} is not an object; fix the definition")
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch.get("States", {}))
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _states(state[key].get("States", {}))


def _check_jsonpath(where: str, node: dict[str, Any]) -> None:
    language = node.get("QueryLanguage", "JSONPath")
    if language != "JSONPath":
        raise WorkflowError(
            f"{where} uses QueryLanguage {language!r}: JSONata is not supported by the local interpreter; "
            "write the definition in JSONPath"
        )


def _contains_jsonata(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().startswith("{%")
    if isinstance(value, dict):
        return any(_contains_jsonata(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_jsonata(v) for v in value)
    return False


def check(definition: dict[str, Any]) -> list[Task]:
    """Refuse unsupported features (naming them); return the Lambda tasks."""
    _check_jsonpath("The state machine", definition)
    tasks: list[Task] = []
    for name, state in _states(definition["States"]):
        where = f"State {name!r}"
        _check_jsonpath(where, state)
        for field in _JSONATA_ONLY_FIELDS:
            if field in state:
                raise WorkflowError(f"{where} uses {field!r}, a JSONata field, which is not supported; use JSONPath")
        if _contains_jsonata(state):
            raise WorkflowError(f"{where} contains a JSONata expression ({{% ... %}}), which is not supported")
        if state.get("Type") == "Task":
            tasks.append(_task(name, state))
    return tasks


def _task(name: str, state: dict[str, Any]) -> Task:
    where = f"State {name!r}"
    if "Credentials" in state:
        raise WorkflowError(f"{where} uses 'Credentials' (cross-account roles), which runs only on AWS; remove it")
    resource = str(state.get("Resource", ""))
    if resource == LAMBDA_INVOKE:
        parameters = state.get("Parameters") or {}
        if "FunctionName.$" in parameters:
            raise WorkflowError(f"{where} picks its function at run time ('FunctionName.$'); name the function")
        ref = parameters.get("FunctionName")
        if not isinstance(ref, str):
            raise WorkflowError(f"{where} calls lambda:invoke without Parameters.FunctionName; add one")
        return Task(name, function_name(ref), ref)
    if resource.startswith("arn:aws:lambda:") or resource.startswith("arn:aws-"):
        return Task(name, function_name(resource), resource)
    raise WorkflowError(
        f"{where} uses resource {resource!r}: only Lambda tasks (lambda:invoke or a function ARN) run locally"
    )


def bindings(tasks: list[Task], mapping: Mapping[str, str]) -> dict[str, str]:
    """Function name in the definition -> scones function, for every task; scones' names bind to themselves."""
    for aws_name, local in mapping.items():
        if local not in NAMES and not local.startswith(API_PREFIX):
            raise WorkflowError(
                f"--function {aws_name}={local}: {local!r} is not a scones function ({', '.join(NAMES)})"
            )
    bound = {name: name for name in NAMES} | dict(mapping)
    missing = sorted({t.function for t in tasks if t.function not in bound})
    if missing:
        hint = " ".join(f"--function {m}=<{'|'.join(NAMES)}>" for m in missing)
        raise WorkflowError(f"No local function for {', '.join(map(repr, missing))}; map it with {hint}")
    return {t.function: bound[t.function] for t in tasks}


def uses_branches(definition: dict[str, Any]) -> bool:
    """True when the definition has Map or Parallel states (not replayable in one durable workflow)."""
    return any(state.get("Type") in ("Map", "Parallel") for _, state in _states(definition["States"]))
