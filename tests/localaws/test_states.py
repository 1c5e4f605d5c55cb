"""Step Functions through boto3 and the AWS CLI: a console-style machine over functions made with the Lambda API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any

import pytest
from botocore.config import Config

from tests.localaws.test_lambda import SEED_SERIALIZE, zip_of

ROLE = "arn:aws:iam::000000000000:role/states"
FIXED_SERIALIZE = SEED_SERIALIZE.replace("base64.b64encode(f.read())", "base64.b64encode(f.read()).decode()")
# A stand-in for the seed's classifier (its endpoint is not on this port yet): confidence from the key.
# It makes the seed's runtime client at module level, as the seed's does, to show that it can.
CLASSIFY = """
import boto3
runtime = boto3.client('runtime.sagemaker')

def lambda_handler(event, context):
    assert runtime.meta.endpoint_url.startswith('http://127.0.0.1:'), runtime.meta.endpoint_url
    body = event['body']
    body['inferences'] = [0.97, 0.03] if 'bicycle' in body['s3_key'] else [0.6, 0.4]
    return {'statusCode': 200, 'body': body}
"""
# The seed's filter, as written: raising a string is itself a TypeError.
FILTER = """
THRESHOLD = .93

def lambda_handler(event, context):
    inferences = event['body']['inferences']
    meets_threshold = max(inferences) > THRESHOLD
    if meets_threshold:
        pass
    else:
        raise("THRESHOLD_CONFIDENCE_NOT_MET")
    return {'statusCode': 200, 'body': event['body']}
"""


def _task(name: str, next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "OutputPath": "$.Payload",
        "Parameters": {
            "Payload.$": "$",
            "FunctionName": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
        },
        "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"], "MaxAttempts": 2}],
    }
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


CONSOLE_DEFINITION = json.dumps(
    {
        "Comment": "Exported from the Step Functions console",
        "StartAt": "serializeImageData",
        "States": {
            "serializeImageData": _task("serializeImageData", "classifyImage"),
            "classifyImage": _task("classifyImage", "filterInferences"),
            "filterInferences": _task("filterInferences", None),
        },
    }
)


@pytest.fixture
def pipeline(client: Any) -> tuple[Any, Any]:
    return make_pipeline(client)


def make_pipeline(client: Any) -> tuple[Any, Any]:
    """The seed bucket with two test images, the three functions, and a Step Functions client."""
    s3, lam = client("s3"), client("lambda")
    s3.create_bucket(Bucket="seed")
    for key in ("test/bicycle_s_000030.png", "test/motorcycle_s_000040.png"):
        s3.put_object(Bucket="seed", Key=key, Body=b"\x89PNG" + key.encode())
    for name, source in (
        ("serializeImageData", FIXED_SERIALIZE),
        ("classifyImage", CLASSIFY),
        ("filterInferences", FILTER),
    ):
        lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_of(source)},
        )  # fmt: skip
    sfn = client("stepfunctions", config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))
    return sfn, lam


def _input(key: str) -> str:
    return json.dumps({"image_data": "", "s3_bucket": "seed", "s3_key": key})


def test_express_sync_execution_succeeds_and_fails_loudly(pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    arn = sfn.create_state_machine(name="pipeline", definition=CONSOLE_DEFINITION, roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    assert arn == "arn:aws:states:us-east-1:000000000000:stateMachine:pipeline"
    ok = sfn.start_sync_execution(stateMachineArn=arn, input=_input("test/bicycle_s_000030.png"))
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"])["body"]["inferences"] == [0.97, 0.03]
    low = sfn.start_sync_execution(stateMachineArn=arn, input=_input("test/motorcycle_s_000040.png"))
    assert (low["status"], low["error"]) == ("FAILED", "TypeError")
    assert "exceptions must derive from BaseException" in low["cause"]
    history = sfn.get_execution_history(executionArn=low["executionArn"])["events"]
    types = [e["type"] for e in history]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionFailed"
    assert types.count("LambdaFunctionSucceeded") + types.count("TaskSucceeded") >= 2


def test_standard_execution_runs_in_the_background(pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    arn = sfn.create_state_machine(name="standard", definition=CONSOLE_DEFINITION, roleArn=ROLE)["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "STANDARD"
    assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["standard"]
    execution = sfn.start_execution(stateMachineArn=arn, name="first", input=_input("test/bicycle_s_000030.png"))
    deadline = time.monotonic() + 120
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED"
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="first", input="{}")
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=arn, input="{}")


def test_bare_function_arn_resolves_by_name_and_unknown_functions_fail(client: Any, pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    bare = "arn:aws:lambda:eu-west-1:111111111111:function:classifyImage:prod"  # any region, account, qualifier
    missing = _task("nowhere", None)
    definition = {"StartAt": "classify", "States": {"classify": {"Type": "Task", "Resource": bare, "Next": "missing"}}}
    definition["States"]["missing"] = missing
    arn = sfn.create_state_machine(name="bare", definition=json.dumps(definition), roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    event = {"body": {"s3_key": "test/bicycle_s_000030.png"}}
    result = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps(event))
    assert (result["status"], result["error"]) == ("FAILED", "Lambda.ResourceNotFoundException"), result["cause"]
    history = sfn.get_execution_history(executionArn=result["executionArn"])["events"]
    assert any(e["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded") for e in history)  # classifyImage ran


def test_bad_definition_and_missing_machine(pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name="bad", definition='{"StartAt": "x", "States": {}}', roleArn=ROLE)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:none")


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not on PATH")
def test_aws_cli_start_and_describe_execution(pipeline: tuple[Any, Any], local_aws: str) -> None:
    sfn, _ = pipeline
    arn = sfn.create_state_machine(name="cli", definition=CONSOLE_DEFINITION, roleArn=ROLE)["stateMachineArn"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=local_aws,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
    )

    def aws(*args: str) -> Any:
        done = subprocess.run(
            ["aws", "stepfunctions", *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    started = aws("start-execution", "--state-machine-arn", arn, "--input", _input("test/bicycle_s_000030.png"))
    deadline = time.monotonic() + 120  # the first STANDARD execution launches DBOS in the server; slow under load
    while (described := aws("describe-execution", "--execution-arn", started["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED"
