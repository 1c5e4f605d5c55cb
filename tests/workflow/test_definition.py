from __future__ import annotations

import pytest

from scones.errors import WorkflowError
from scones.workflow import definition as asl
from tests.workflow.conftest import DEFINITIONS


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:serialize_image_data:$LATEST", "serialize_image_data"),
        ("arn:aws:lambda:eu-west-2:123456789012:function:classify", "classify"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f:prod", "f"),
        ("123456789012:function:filter", "filter"),
        ("classifier:live", "classifier"),
        ("plain", "plain"),
    ],
)
def test_function_names_from_every_reference_style(ref: str, name: str) -> None:
    assert asl.function_name(ref) == name


def test_console_definition_tasks_and_bindings() -> None:
    definition = asl.load((DEFINITIONS / "console_payload_object.asl.json").read_text())
    tasks = asl.check(definition)
    assert [t.state for t in tasks] == [
        "Serialize Image Data",
        "Image Classification",
        "Filter Low Confidence Inferences",
    ]
    mapping = {
        "serializeImageData": "serialize_image_data",
        "imageClassification": "classify_image",
        "filterLowConfidence": "filter_inferences",
    }
    assert asl.bindings(tasks, mapping) == mapping
    with pytest.raises(WorkflowError, match="--function serializeImageData="):
        asl.bindings(tasks, {})
    with pytest.raises(WorkflowError, match="not a scones function"):
        asl.bindings(tasks, {"serializeImageData": "nope"})


def test_refusals() -> None:
    with pytest.raises(WorkflowError, match="not JSON"):
        asl.load("{")
    with pytest.raises(WorkflowError, match="StartAt"):
        asl.load("{}")
    with pytest.raises(WorkflowError, match="JSONata"):
        asl.check(asl.load((DEFINITIONS / "jsonata.asl.json").read_text()))
    state_level = {"StartAt": "A", "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True}}}
    with pytest.raises(WorkflowError, match="State 'A'.*JSONata"):
        asl.check(state_level)
    dynamic = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": asl.LAMBDA_INVOKE,
                "Parameters": {"FunctionName.$": "$.f"},
                "End": True,
            }
        },
    }
    with pytest.raises(WorkflowError, match="FunctionName"):
        asl.check(dynamic)


def test_uses_branches() -> None:
    parallel = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": True}}}
    assert asl.uses_branches(parallel)
    assert not asl.uses_branches(asl.load((DEFINITIONS / "direct_arn.asl.json").read_text()))
