"""Step Functions through boto3 over the workflow stage: one state with `scones workflow`, listing,
stopping, and STANDARD executions that survive a crash of `scones up`."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from tests.conftest import free_port
from tests.helpers import SCONES, wait_healthy
from tests.localaws.test_lambda import zip_of
from tests.localaws.test_states import CONSOLE_DEFINITION, ROLE, _input, _task, make_pipeline

NO_PREFIX = Config(inject_host_prefix=False, retries={"max_attempts": 1})


@pytest.fixture
def pipeline(client: Any) -> tuple[Any, Any]:
    return make_pipeline(client)


def _wait(sfn: Any, arn: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, described
        time.sleep(0.1)
    return described  # type: ignore[no-any-return]


def _create(lam: Any, name: str, source: str, **extra: Any) -> None:
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_of(source)}, **extra,
    )  # fmt: skip


def test_api_executions_are_scones_executions(pipeline: tuple[Any, Any], settings: Settings, tmp_path: Path) -> None:
    sfn, _ = pipeline
    arn = sfn.create_state_machine(name="seedflow", definition=CONSOLE_DEFINITION, roleArn=ROLE)["stateMachineArn"]
    started = [
        sfn.start_execution(stateMachineArn=arn, name=f"run-{i}", input=_input(key))["executionArn"]
        for i, key in enumerate(["test/bicycle_s_000030.png"] * 3 + ["test/motorcycle_s_000040.png"])
    ]
    assert [_wait(sfn, a)["status"] for a in started] == ["SUCCEEDED"] * 3 + ["FAILED"]
    assert started[0] == "arn:aws:states:us-east-1:000000000000:execution:seedflow:run-0"

    pages = list(sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, PaginationConfig={"PageSize": 3}))
    assert [len(p["executions"]) for p in pages] == [3, 1]
    assert {e["executionArn"] for p in pages for e in p["executions"]} == set(started)
    failed = sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]
    assert [e["name"] for e in failed] == ["run-3"]
    history = sfn.get_execution_history(executionArn=started[0])["events"]
    assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"

    # The same executions from the CLI, and the machine drawn with its latest run's colours.
    runner = CliRunner()
    listed = runner.invoke(app, ["workflow", "list-executions", "seedflow", "--json"])
    assert listed.exit_code == 0, listed.output
    assert sorted(e["name"] for e in json.loads(listed.output)) == [f"run-{i}" for i in range(4)]
    drawn = runner.invoke(app, ["workflow", "graph", "seedflow", "--execution", "run-0", "--out", str(tmp_path / "g")])
    assert drawn.exit_code == 0, drawn.output
    assert "serializeImageData" in (tmp_path / "g.svg").read_text()

    # ...and a machine the CLI created is one the API lists and runs (built-in functions by their names).
    made = runner.invoke(app, ["workflow", "create", "builtin"])
    assert made.exit_code == 0, made.output
    listed_machines = sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 1})
    assert [m["name"] for p in listed_machines for m in p["stateMachines"]] == ["builtin", "seedflow"]
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=arn)
    assert runner.invoke(app, ["workflow", "graph", "seedflow"]).exit_code != 0


def test_update_state_machine_changes_what_runs(pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    first = {"StartAt": "only", "States": {"only": _task("classifyImage", None)}}
    arn = sfn.create_state_machine(name="upd", definition=json.dumps(first), roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    event = json.dumps({"body": {"s3_key": "test/bicycle_s_000030.png"}})
    assert sfn.start_sync_execution(stateMachineArn=arn, input=event)["status"] == "SUCCEEDED"
    second = {"StartAt": "fails", "States": {"fails": {"Type": "Fail", "Error": "Changed", "Cause": "updated"}}}
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(second), roleArn=ROLE + "2")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (json.loads(described["definition"]), described["roleArn"]) == (second, ROLE + "2")
    assert sfn.start_sync_execution(stateMachineArn=arn, input=event)["error"] == "Changed"


SLOW_THEN_MARK = """
import os, time, boto3
s3 = boto3.client('s3')

def lambda_handler(event, context):
    time.sleep(float(os.environ['SLEEP']))
    s3.put_object(Bucket='marks', Key=os.environ['MARK'] + '/' + context.aws_request_id, Body=b'1')
    return event
"""


def _marked(lam: Any, name: str, sleep: float) -> None:
    _create(lam, name, SLOW_THEN_MARK, Timeout=30, Environment={"Variables": {"SLEEP": str(sleep), "MARK": name}})


def _two_steps() -> str:
    return json.dumps({"StartAt": "a", "States": {"a": _task("first", "b"), "b": _task("second", None)}})


def test_stop_execution_aborts_a_standard_run(client: Any) -> None:
    lam, s3, sfn = client("lambda"), client("s3"), client("stepfunctions", config=NO_PREFIX)
    s3.create_bucket(Bucket="marks")
    _marked(lam, "first", 1.5)
    _marked(lam, "second", 0)
    arn = sfn.create_state_machine(name="stoppable", definition=_two_steps(), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    time.sleep(0.3)
    sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped by the test")
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described["error"]) == ("ABORTED", "Operator")
    assert described["cause"] == "stopped by the test"
    time.sleep(3)  # the running task finishes; the next one never starts
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="marks").get("Contents", [])]
    assert not any(k.startswith("second/") for k in keys), keys
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert events[-1]["type"] == "ExecutionAborted"
    aborted = sfn.list_executions(stateMachineArn=arn, statusFilter="ABORTED")["executions"]
    assert [e["executionArn"] for e in aborted] == [execution]
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.stop_execution(executionArn=execution.replace(":stoppable:", ":nothing:"))


def test_eight_concurrent_executions_keep_their_own_tmp(client: Any) -> None:
    lam, sfn = client("lambda"), client("stepfunctions", config=NO_PREFIX)
    source = (
        "import time\n"
        "def lambda_handler(event, context):\n"
        "    with open('/tmp/image.png', 'w') as f:\n"
        "        f.write(event['id'])\n"
        "    time.sleep(0.3)\n"
        "    with open('/tmp/image.png') as f:\n"
        "        return {'id': event['id'], 'read': f.read()}\n"
    )
    _create(lam, "tmpwriter", source)
    definition = {"StartAt": "w", "States": {"w": {**_task("tmpwriter", None), "OutputPath": "$.Payload"}}}
    arn = sfn.create_state_machine(name="tmp", definition=json.dumps(definition), roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]

    def run(i: int) -> dict[str, Any]:
        result = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"id": f"image-{i}"}))
        assert result["status"] == "SUCCEEDED", result
        return json.loads(result["output"])  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(run, range(8)))
    assert outputs == [{"id": f"image-{i}", "read": f"image-{i}"} for i in range(8)]


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["crash", "ctrl-c"])
def test_standard_execution_survives_a_stop_of_scones_up(settings: Settings, stop: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SCONES_HOME=str(settings.home))

    def up() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [*SCONES, "up", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its Lambda workers die with it, as in a real crash
        )  # fmt: skip
        wait_healthy(process, url + "/")
        return process

    def make(service: str, **kwargs: Any) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", **kwargs)

    process = up()
    try:
        lam, s3, sfn = make("lambda"), make("s3"), make("stepfunctions", config=NO_PREFIX)
        s3.create_bucket(Bucket="marks")
        _marked(lam, "first", 0)
        _marked(lam, "second", 4)
        arn = sfn.create_state_machine(name="durable", definition=_two_steps(), roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"]
        deadline = time.monotonic() + 30
        while not s3.list_objects_v2(Bucket="marks", Prefix="first/")["KeyCount"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # the second task is running now
        if stop == "crash":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # a graceful stop must not fail the running task: the execution stays RUNNING
            os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
        assert stop == "crash" or process.returncode == 0
        process = up()  # resumes the execution from its last finished step
        sfn = make("stepfunctions", config=NO_PREFIX)
        described = _wait(sfn, execution, timeout=60)
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"n": 1})
        marks = [o["Key"].split("/")[0] for o in make("s3").list_objects_v2(Bucket="marks")["Contents"]]
        assert sorted(marks) == ["first", "second"]  # the first task was replayed, not run again
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def test_builtin_functions_answer_under_their_names(pipeline: tuple[Any, Any]) -> None:
    sfn, _ = pipeline
    definition = {"StartAt": "s", "States": {"s": {**_task("serialize_image_data", None), "OutputPath": "$.Payload"}}}
    arn = sfn.create_state_machine(name="builtin", definition=json.dumps(definition), roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    result = sfn.start_sync_execution(stateMachineArn=arn, input=_input("test/bicycle_s_000030.png"))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    body = json.loads(result["output"])["body"]
    assert base64.b64decode(body["image_data"]) == b"\x89PNG" + b"test/bicycle_s_000030.png"
