"""The state machine for AWS: pipeline.asl.json with each Lambda reference set to a real ARN.

The ASL file is the single source of truth (stage 3); here every Task that calls a Lambda,
in either style (`arn:aws:states:::lambda:invoke` with `Parameters.FunctionName`, or the
function ARN as `Resource`), is pointed at the deployed function whose module name matches
(`serializeImageData`, `serialize-image-data` and `serialize_image_data` all match).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from scones.aws.errors import AwsError
from scones.aws.plan import FUNCTIONS, Plan

ASL_PACKAGE, ASL_FILE = "scones.workflow", "pipeline.asl.json"
_LAMBDA_INVOKE = re.compile(r"^arn:[^:]+:states:::lambda:invoke(\.waitForTaskToken)?$")
_FUNCTION_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$")


def load_definition() -> dict[str, Any]:
    """The pipeline's ASL definition as shipped in the scones package."""
    source = resources.files(ASL_PACKAGE) / ASL_FILE
    if not source.is_file():
        raise AwsError(f"No {ASL_FILE} in {ASL_PACKAGE}; the workflow stage must provide it before deploying")
    try:
        definition = json.loads(source.read_text())
    except ValueError as exc:
        raise AwsError(f"{ASL_FILE} is not valid JSON ({exc}); fix the state machine definition") from exc
    if not isinstance(definition, dict) or "States" not in definition:
        raise AwsError(f"{ASL_FILE} has no States; it is not an Amazon States Language definition")
    return definition


def with_arns(definition: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """A copy of `definition` whose Lambda tasks call this deployment's functions."""
    filled: dict[str, Any] = json.loads(json.dumps(definition))
    _fill_states(filled.get("States", {}), plan)
    return filled


def function_arns(definition: dict[str, Any]) -> set[str]:
    """Every Lambda function ARN a definition calls (to check that deploy filled them all)."""
    found: set[str] = set()
    for state in _task_states(definition.get("States", {})):
        reference = _lambda_reference(state)
        if reference is not None:
            found.add(reference[1])
    return found


def _fill_states(states: dict[str, Any], plan: Plan) -> None:
    for state in _task_states(states):
        reference = _lambda_reference(state)
        if reference is None:
            continue
        field, value = reference
        module = _match(value)
        arn_match = _FUNCTION_ARN.match(value)
        qualifier = arn_match.group(2) if arn_match and arn_match.group(2) else ""  # e.g. ":$LATEST"
        arn = plan.function_arn(module) + qualifier
        if field == "Resource":
            state["Resource"] = arn
        else:
            state["Parameters"]["FunctionName"] = arn


def _task_states(states: dict[str, Any]) -> list[dict[str, Any]]:
    """Task states, including those inside Parallel branches and Map processors."""
    found: list[dict[str, Any]] = []
    for state in states.values():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Task":
            found.append(state)
        for branch in state.get("Branches", []):
            found.extend(_task_states(branch.get("States", {})))
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), dict):
                found.extend(_task_states(state[key].get("States", {})))
    return found


def _lambda_reference(state: dict[str, Any]) -> tuple[str, str] | None:
    resource = str(state.get("Resource", ""))
    if _LAMBDA_INVOKE.match(resource):
        name = (state.get("Parameters") or {}).get("FunctionName")
        if not isinstance(name, str):
            raise AwsError(f"A lambda:invoke task ({resource}) has no literal Parameters.FunctionName to point at")
        return "FunctionName", name
    if _FUNCTION_ARN.match(resource):
        return "Resource", resource
    return None


def _match(reference: str) -> str:
    match = _FUNCTION_ARN.match(reference)
    name = match.group(1) if match else reference.split(":")[0]
    key = _normalise(name)
    for module in FUNCTIONS:
        if key.endswith(_normalise(module)):
            return module
    raise AwsError(f"The state machine calls {reference!r}, which is none of the functions {', '.join(FUNCTIONS)}")


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
