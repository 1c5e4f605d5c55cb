"""Lambda through boto3 and the AWS CLI: functions, Invoke in worker processes, AWS's error documents."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda"

# The seed's first function, as its team wrote it: boto3 at module level, download_file to /tmp,
# and a bytes value in the result (which Lambda cannot marshal).
SEED_SERIALIZE = '''
import json
import boto3
import base64

s3 = boto3.client('s3')

def lambda_handler(event, context):
    """A function to serialize target data from S3"""
    key = event['s3_key']
    bucket = event['s3_bucket']
    s3.download_file(bucket, key, "/tmp/image.png")
    with open("/tmp/image.png", "rb") as f:
        image_data = base64.b64encode(f.read())
    print("Event:", event.keys())
    return {
        'statusCode': 200,
        'body': {"image_data": image_data, "s3_bucket": bucket, "s3_key": key, "inferences": []}
    }
'''


def zip_of(source: str, name: str = "lambda_function.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def create(lam: Any, name: str, source: str, **extra: Any) -> dict[str, Any]:
    extra.setdefault("Code", {"ZipFile": zip_of(source)})
    result: dict[str, Any] = lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.lambda_handler", **extra
    )
    return result


def invoke(lam: Any, name: str, event: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **extra)
    return response, json.loads(response["Payload"].read())


@pytest.fixture
def lam(client: Any) -> Any:
    return client("lambda")


def test_function_lifecycle(lam: Any) -> None:
    created = create(lam, "echo", "def lambda_handler(event, context):\n    return event\n", Timeout=5)
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert (created["State"], created["Timeout"], created["Runtime"]) == ("Active", 5, "python3.11")
    lam.get_waiter("function_active_v2").wait(FunctionName="echo")
    assert lam.get_function(FunctionName="echo")["Configuration"]["Handler"] == "lambda_function.lambda_handler"
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["echo"]
    with pytest.raises(lam.exceptions.ResourceConflictException):
        create(lam, "echo", "")
    lam.update_function_configuration(FunctionName="echo", Environment={"Variables": {"GREETING": "hi"}}, Timeout=7)
    assert lam.get_function_configuration(FunctionName=created["FunctionArn"])["Timeout"] == 7
    lam.update_function_code(
        FunctionName="echo", ZipFile=zip_of("import os\ndef lambda_handler(e, c):\n    return os.environ['GREETING']\n")
    )
    assert invoke(lam, "echo:$LATEST", {})[1] == "hi"
    lam.delete_function(FunctionName="echo")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="echo")


def test_other_runtimes_are_refused(lam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lam.create_function(
            FunctionName="js", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler", Code={"ZipFile": zip_of("")}
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "python3.x runtime" in str(exc.value)


def test_code_from_s3_and_the_lambda_environment(lam: Any, client: Any, local_aws: str) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="code")
    source = (
        "import os\n"
        "def lambda_handler(event, context):\n"
        "    found = {k: os.environ.get(k) for k in event['names']}\n"
        "    return found | {'rid': context.aws_request_id, 'left': context.get_remaining_time_in_millis()}\n"
    )
    s3.put_object(Bucket="code", Key="fn.zip", Body=zip_of(source))
    create(lam, "env", "", Code={"S3Bucket": "code", "S3Key": "fn.zip"})
    names = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "_HANDLER",
        "SCONES_HOME",
    ]
    response, result = invoke(lam, "env", {"names": names})
    assert result["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert (result["AWS_REGION"], result["AWS_ENDPOINT_URL"]) == ("us-east-1", local_aws)
    assert result["_HANDLER"] == "lambda_function.lambda_handler" and result["AWS_ACCESS_KEY_ID"]
    assert result["SCONES_HOME"] is None  # the function sees Lambda's variables, not the server's
    assert 0 < result["left"] <= 3000 and result["rid"]


def test_seed_function_runs_unchanged_and_fails_to_marshal_bytes(lam: Any, client: Any) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="sagemaker-us-east-1-000000000000")
    s3.put_object(Bucket="sagemaker-us-east-1-000000000000", Key="test/bicycle_s_000030.png", Body=b"\x89PNG-bytes")
    create(lam, "serializeImageData", SEED_SERIALIZE)
    event = {"s3_bucket": "sagemaker-us-east-1-000000000000", "s3_key": "test/bicycle_s_000030.png", "image_data": ""}
    response, error = invoke(lam, "serializeImageData", event, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type bytes is not JSON serializable"
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Event: dict_keys(['s3_bucket', 's3_key', 'image_data'])" in log  # it ran: download_file, /tmp, S3
    fixed = SEED_SERIALIZE.replace("base64.b64encode(f.read())", "base64.b64encode(f.read()).decode()")
    lam.update_function_code(FunctionName="serializeImageData", ZipFile=zip_of(fixed))
    response, result = invoke(lam, "serializeImageData", event)
    assert "FunctionError" not in response
    assert base64.b64decode(result["body"]["image_data"]) == b"\x89PNG-bytes"


def test_unhandled_error_document_and_tail_log(lam: Any) -> None:
    source = "def lambda_handler(event, context):\n    print('about to fail')\n    raise ValueError('bad image')\n"
    create(lam, "fails", source)
    response, error = invoke(lam, "fails", {}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad image")
    assert "lambda_function.py" in error["stackTrace"][0] and "raise ValueError" in error["stackTrace"][0]
    log = base64.b64decode(response["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "about to fail" in log and "REPORT RequestId: " in log


def test_import_error_and_missing_handler(lam: Any) -> None:
    create(lam, "broken", "import not_a_module_anywhere\n")
    response, error = invoke(lam, "broken", {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"].startswith("Unable to import module 'lambda_function': No module named")
    create(lam, "nohandler", "def other(event, context):\n    return 1\n")
    assert invoke(lam, "nohandler", {})[1]["errorType"] == "Runtime.HandlerNotFound"


def test_timeout_kills_the_environment(lam: Any) -> None:
    create(
        lam,
        "slow",
        "import time\ndef lambda_handler(event, context):\n    time.sleep(event['s'])\n    return 'done'\n",
        Timeout=1,
    )
    started = time.monotonic()
    response, error = invoke(lam, "slow", {"s": 30})
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert invoke(lam, "slow", {"s": 0})[1] == "done"  # a fresh environment answers next


def test_warm_environments_are_reused_and_cold_starts_show_init(lam: Any) -> None:
    source = "calls = 0\ndef lambda_handler(event, context):\n    global calls\n    calls += 1\n    return calls\n"
    create(lam, "counter", source)
    first, one = invoke(lam, "counter", {}, LogType="Tail")
    second, two = invoke(lam, "counter", {}, LogType="Tail")
    assert (one, two) == (1, 2)  # the same process: module state survives, as on a warm Lambda
    assert "Init Duration" in base64.b64decode(first["LogResult"]).decode()
    assert "Init Duration" not in base64.b64decode(second["LogResult"]).decode()
    lam.update_function_configuration(FunctionName="counter", Timeout=4)
    assert invoke(lam, "counter", {})[1] == 1  # a configuration change starts fresh environments


def test_event_invocation_runs_in_the_background(lam: Any, client: Any) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="out")
    source = (
        "import boto3\n"
        "def lambda_handler(event, context):\n"
        "    boto3.client('s3').put_object(Bucket='out', Key='done', Body=b'1')\n"
    )
    create(lam, "later", source)
    response = lam.invoke(FunctionName="later", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket="out")["KeyCount"]:
            break
        time.sleep(0.1)
    assert s3.get_object(Bucket="out", Key="done")["Body"].read() == b"1"


def test_concurrent_environments_never_share_tmp(lam: Any) -> None:
    source = (
        "import time\n"
        "def lambda_handler(event, context):\n"
        "    with open('/tmp/image.png', 'w') as f:\n"
        "        f.write(event['id'])\n"
        "    time.sleep(0.3)\n"
        "    with open('/tmp/image.png') as f:\n"
        "        return f.read()\n"
    )
    create(lam, "tmpwriter", source)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: invoke(lam, "tmpwriter", {"id": f"image-{i}"})[1], range(8)))
    assert results == [f"image-{i}" for i in range(8)]
    assert not Path("/tmp/image.png").exists() or Path("/tmp/image.png").read_text() not in results


def test_bad_payload_is_refused(lam: Any) -> None:
    create(lam, "echo", "def lambda_handler(event, context):\n    return event\n")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="missing", Payload=b"{}")


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not on PATH")
def test_aws_cli_lambda_invoke(lam: Any, local_aws: str, tmp_path: Path) -> None:
    create(lam, "echo", "def lambda_handler(event, context):\n    return {'got': event}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=local_aws,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
    )
    out = tmp_path / "out.json"
    done = subprocess.run(
        ["aws", "lambda", "invoke", "--function-name", "echo", "--payload", '{"a": 1}', "--log-type", "Tail", str(out)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {"got": {"a": 1}}
    assert json.loads(done.stdout)["StatusCode"] == 200


def test_large_event_round_trips(lam: Any) -> None:
    create(lam, "echo", "def lambda_handler(event, context):\n    return len(event['blob'])\n")
    blob = "x" * (2 << 20)  # far beyond a pipe's buffer
    assert invoke(lam, "echo", {"blob": blob})[1] == len(blob)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="echo", Payload=json.dumps({"blob": "x" * (7 << 20)}).encode())
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_init_is_timed_apart_from_the_function_timeout(lam: Any) -> None:
    # module-level work (imports, boto3 clients) longer than Timeout: Lambda times init separately
    source = "import time\ntime.sleep(1.5)\ndef lambda_handler(event, context):\n    return 'ready'\n"
    create(lam, "slowinit", source, Timeout=1)
    response, result = invoke(lam, "slowinit", {}, LogType="Tail")
    assert result == "ready" and "FunctionError" not in response
    log = base64.b64decode(response["LogResult"]).decode()
    assert float(log.split("Init Duration: ")[1].split(" ms")[0]) >= 1500
