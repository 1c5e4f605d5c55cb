"""The whole seed chain against one `scones up`, through AWS's own clients only (issue #16).

A person who built the Scones Unlimited pipeline on AWS stages images to S3, makes a model, an endpoint
config with data capture and an endpoint with boto3's `sagemaker` client, creates the three Lambda functions
from zips of the code as the seed wrote it, creates the console-exported state machine, and runs it. Every
call here goes to AWS_ENDPOINT_URL through boto3 or the AWS CLI; the scones CLI is only asked afterwards
whether it sees the same endpoint (one state).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.config import Config

from scones.config import Settings
from scones.endpoint import registry
from tests.helpers import png_bytes
from tests.localaws.sagemaker_helpers import IMAGE, ROLE as SAGEMAKER_ROLE
from tests.localaws.test_lambda import zip_of
from tests.localaws.test_states import CONSOLE_DEFINITION, FILTER

pytestmark = pytest.mark.slow  # an endpoint process, three function environments and DBOS for STANDARD: ~30 s

ENDPOINT = "image-classification-2026-12-05-04-30-00-000"
LAMBDA_ROLE = "arn:aws:iam::000000000000:role/service-role/scones-lambda"
STATES_ROLE = "arn:aws:iam::000000000000:role/service-role/StepFunctions-scones"

# serializeImageData as the seed wrote it: the resource API, download_file to /tmp, and a bytes value in
# the result, which Lambda cannot marshal. SERIALIZE is the one-word fix the seed's team had to make.
SEED_SERIALIZE = '''
import json
import boto3
import base64

s3 = boto3.resource('s3')

def lambda_handler(event, context):
    """A function to serialize target data from S3"""

    # Get the s3 address from the Step Function event input
    key = event['s3_key']
    bucket = event['s3_bucket']

    # Download the data from s3 to /tmp/image.png
    s3.Bucket(bucket).download_file(key, "/tmp/image.png")

    # We read the data from a file
    with open("/tmp/image.png", "rb") as f:
        image_data = base64.b64encode(f.read())

    # Pass the data back to the Step Function
    print("Event:", event.keys())
    return {
        'statusCode': 200,
        'body': {
            "image_data": image_data,
            "s3_bucket": bucket,
            "s3_key": key,
            "inferences": []
        }
    }
'''
SERIALIZE = SEED_SERIALIZE.replace("base64.b64encode(f.read())", "base64.b64encode(f.read()).decode('utf-8')")

# classifyImage as the seed wrote it: the runtime client, the endpoint's name pasted in from the console.
CLASSIFY = f"""
import json
import base64
import boto3

# Fill this in with the name of your deployed model
ENDPOINT = "{ENDPOINT}"
runtime = boto3.client('runtime.sagemaker')

def lambda_handler(event, context):

    # Decode the image data
    image = base64.b64decode(event['body']['image_data'])

    # Make a prediction
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType='image/png', Body=image)

    # We return the data back to the Step Function
    inferences = json.loads(response['Body'].read().decode('utf-8'))
    event['body']['inferences'] = inferences
    return {{
        'statusCode': 200,
        'body': event['body']
    }}
"""

# For the tiny model (tests/helpers.py): red is a bicycle at ~1.0, blue a motorcycle, grey a coin toss.
IMAGES = {
    "test/bicycle_s_000030.png": png_bytes((200, 30, 30)),
    "test/motorcycle_s_000040.png": png_bytes((30, 30, 200)),
    "test/grey_s_000001.png": png_bytes((128, 128, 128)),
}
CAPTURE = "s3://seed-bucket/data_capture"


def _input(key: str) -> str:
    return json.dumps({"image_data": "", "s3_bucket": "seed-bucket", "s3_key": key})


def _aws(url: str, *args: str) -> str:
    """The AWS CLI v1 with only the three exported variables."""
    assert shutil.which("aws"), "this test runs the AWS CLI v1: put `aws` on PATH (pip install awscli)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    done = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _deploy(client: Any, model_file: Path) -> Any:
    """Model, endpoint config with DataCaptureConfig, endpoint: as the seed's notebook has the SDK do it."""
    s3, sm = client("s3"), client("sagemaker")
    s3.upload_file(str(model_file), "seed-bucket", "models/image-classification/output/model.tar.gz")
    sm.create_model(
        ModelName="seed-model",
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": "s3://seed-bucket/models/image-classification/output/model.tar.gz",
        },
        ExecutionRoleArn=SAGEMAKER_ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName="seed-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "seed-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": CAPTURE,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="seed-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return sm


def _functions(client: Any) -> Any:
    lam = client("lambda")
    for name, source in (
        ("serializeImageData", SERIALIZE),
        ("serializeImageDataAsWritten", SEED_SERIALIZE),
        ("classifyImage", CLASSIFY),
        ("filterInferences", FILTER),
    ):
        lam.create_function(
            FunctionName=name, Runtime="python3.8", Role=LAMBDA_ROLE, Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_of(source)}, Timeout=30,
        )  # fmt: skip
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return lam


def _invocations(url: str) -> float:
    """The endpoint's own count of answered invocations (its Prometheus /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^scones_endpoint_requests_total\{[^}]*route="invocations"[^}]*\} (\S+)$', text, re.M)
    return sum(float(n) for n in found)


@pytest.fixture
def no_leftover_endpoint(settings: Settings) -> Iterator[None]:
    """If an assertion stops the test early, its endpoint process does not outlive it."""
    yield
    for record in registry.list_endpoints(settings):
        registry.delete(settings, record.name)


@pytest.mark.usefixtures("no_leftover_endpoint")
def test_the_seed_pipeline_runs_unchanged_against_scones_up(
    client: Any, local_aws: str, model_file: Path, tmp_path: Path
) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="seed-bucket")
    for key, body in IMAGES.items():
        s3.put_object(Bucket="seed-bucket", Key=key, Body=body, ContentType="image/png")
    sm = _deploy(client, model_file)
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "seed-config")
    assert described["DataCaptureConfig"]["DestinationS3Uri"] == CAPTURE
    lam = _functions(client)

    # The seed's first function as written fails exactly as on Lambda; the fixed one returns a str.
    failed = lam.invoke(FunctionName="serializeImageDataAsWritten", Payload=_input("test/bicycle_s_000030.png"))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "Runtime.MarshalError"

    sfn = client("stepfunctions", config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))
    express = sfn.create_state_machine(
        name="seed-express", definition=CONSOLE_DEFINITION, roleArn=STATES_ROLE, type="EXPRESS"
    )["stateMachineArn"]
    ok = sfn.start_sync_execution(stateMachineArn=express, input=_input("test/bicycle_s_000030.png"))
    assert ok["status"] == "SUCCEEDED", ok.get("cause")
    body = json.loads(ok["output"])["body"]
    assert body["s3_key"] == "test/bicycle_s_000030.png"
    assert body["inferences"][0] > 0.93 and len(body["inferences"]) == 2  # the endpoint's answer, not a stand-in
    motorcycle = sfn.start_sync_execution(stateMachineArn=express, input=_input("test/motorcycle_s_000040.png"))
    assert motorcycle["status"] == "SUCCEEDED", motorcycle.get("cause")
    assert json.loads(motorcycle["output"])["body"]["inferences"][1] > 0.93
    low = sfn.start_sync_execution(stateMachineArn=express, input=_input("test/grey_s_000001.png"))
    assert (low["status"], low["error"]) == ("FAILED", "TypeError")  # the seed's raise("THRESHOLD_...")
    assert "exceptions must derive from BaseException" in low["cause"]

    standard = sfn.create_state_machine(name="seed-standard", definition=CONSOLE_DEFINITION, roleArn=STATES_ROLE)[
        "stateMachineArn"
    ]
    started = {
        key: sfn.start_execution(stateMachineArn=standard, input=_input(key))["executionArn"]
        for key in ("test/bicycle_s_000030.png", "test/grey_s_000001.png")
    }
    deadline = time.monotonic() + 120  # the first STANDARD execution launches DBOS in the server
    finished: dict[str, dict[str, Any]] = {}
    while len(finished) < len(started):
        assert time.monotonic() < deadline, finished
        for key, arn in started.items():
            if (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING":
                finished[key] = d
        time.sleep(0.2)
    confident = finished["test/bicycle_s_000030.png"]
    assert confident["status"] == "SUCCEEDED", confident.get("cause")
    assert json.loads(confident["output"])["body"]["inferences"][0] > 0.93
    assert (finished["test/grey_s_000001.png"]["status"], finished["test/grey_s_000001.png"]["error"]) == (
        "FAILED",
        "TypeError",
    )

    # The AWS CLI on the same resources.
    out = tmp_path / "out.json"
    printed = _aws(local_aws, "lambda", "invoke", "--function-name", "classifyImage",
                   "--payload", json.dumps({"body": {**body, "inferences": []}}), str(out))  # fmt: skip
    assert json.loads(printed)["StatusCode"] == 200 and "FunctionError" not in printed
    assert json.loads(out.read_text())["body"]["inferences"][0] > 0.93
    cli = json.loads(
        _aws(local_aws, "stepfunctions", "describe-execution", "--execution-arn", started["test/grey_s_000001.png"])
    )
    assert (cli["status"], cli["error"]) == ("FAILED", "TypeError")

    # One state: `scones endpoints` lists the API's endpoint with its capture, and the endpoint counted the
    # requests: 3 EXPRESS + 2 STANDARD executions and the CLI's invoke each called it once.
    listed = subprocess.run(
        [sys.executable, "-m", "scones.cli", "endpoints", "--json"], capture_output=True, text=True, check=True
    )
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["status"], row["config"]["capture_destination"]) == (ENDPOINT, "InService", CAPTURE)
    assert _invocations(row["url"]) == 6

    executions = subprocess.run(
        [sys.executable, "-m", "scones.cli", "workflow", "list-executions", "seed-standard", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sorted(e["status"] for e in json.loads(executions.stdout)) == ["FAILED", "SUCCEEDED"]
    groups = [g["logGroupName"] for g in client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]]
    assert {"/aws/lambda/classifyImage", f"/aws/sagemaker/Endpoints/{ENDPOINT}"} <= set(groups)

    # The endpoint captured those requests under the DataCaptureConfig destination (flushed when it stops).
    sm.delete_endpoint(EndpointName=ENDPOINT)
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="seed-bucket", Prefix=f"data_capture/{ENDPOINT}/"):
        for item in page.get("Contents", []):
            assert item["Key"].split("/")[2] == "AllTraffic" and item["Key"].endswith(".jsonl")
            text = s3.get_object(Bucket="seed-bucket", Key=item["Key"])["Body"].read().decode()
            records += [json.loads(line) for line in text.splitlines() if line]
    assert len(records) == 6
    inputs = sorted(r["captureData"]["endpointInput"]["data"] for r in records)
    staged = [base64.b64encode(IMAGES[k]).decode() for k in IMAGES]
    assert set(inputs) == set(staged)  # every image the executions classified, byte for byte
    assert all(r["captureData"]["endpointInput"]["observedContentType"] == "image/png" for r in records)
    outputs = [json.loads(r["captureData"]["endpointOutput"]["data"]) for r in records]
    assert sum(1 for o in outputs if max(o) <= 0.93) == 2  # the grey image, once per machine type
