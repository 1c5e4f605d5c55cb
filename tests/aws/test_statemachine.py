from __future__ import annotations

import json
from typing import Any

import pytest

from scones.aws import AwsOptions, build_plan, statemachine
from scones.aws.errors import AwsError
from scones.aws.plan import FUNCTIONS, Plan


@pytest.fixture
def plan() -> Plan:
    return build_plan(AwsOptions(bucket="b-ucket", region="us-east-2", name="shop"), "210987654321", "cd" * 32)


def _seed_definition() -> dict[str, Any]:
    """The seed's shape: lambda:invoke with FunctionName placeholders, plus a direct-ARN task."""
    invoke = "arn:aws:states:::lambda:invoke"
    return {
        "StartAt": "Serialize",
        "States": {
            "Serialize": {
                "Type": "Task",
                "Resource": invoke,
                "Parameters": {
                    "FunctionName": "arn:aws:lambda:REGION:ACCOUNT:function:serializeImageData:$LATEST",
                    "Payload.$": "$",
                },
                "OutputPath": "$.Payload",
                "Next": "Classify",
            },
            "Classify": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:REGION:ACCOUNT:function:classify-image",
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Filter",
                        "States": {
                            "Filter": {
                                "Type": "Task",
                                "Resource": invoke,
                                "Parameters": {"FunctionName": "filter_inferences", "Payload.$": "$"},
                                "End": True,
                            }
                        },
                    }
                ],
                "End": True,
            },
        },
    }


def test_every_lambda_reference_gets_a_real_arn(plan: Plan) -> None:
    filled = statemachine.with_arns(_seed_definition(), plan)
    states = filled["States"]
    assert states["Serialize"]["Parameters"]["FunctionName"] == plan.function_arn("serialize_image_data") + ":$LATEST"
    assert states["Classify"]["Resource"] == plan.function_arn("classify_image")
    inner = states["Both"]["Branches"][0]["States"]["Filter"]
    assert inner["Parameters"]["FunctionName"] == plan.function_arn("filter_inferences")
    text = json.dumps(filled)
    assert "REGION" not in text and "ACCOUNT" not in text
    assert _seed_definition()["States"]["Classify"]["Resource"].endswith("classify-image")  # input untouched


def test_unknown_function_is_refused(plan: Plan) -> None:
    definition = _seed_definition()
    definition["States"]["Classify"]["Resource"] = "arn:aws:lambda:REGION:ACCOUNT:function:somethingElse"
    with pytest.raises(AwsError, match="none of the functions"):
        statemachine.with_arns(definition, plan)


def test_the_shipped_pipeline_fills_completely(plan: Plan) -> None:
    filled = statemachine.with_arns(statemachine.load_definition(), plan)
    arns = statemachine.function_arns(filled)
    assert {a.split(":$")[0] for a in arns} == {plan.function_arn(m) for m in FUNCTIONS}
