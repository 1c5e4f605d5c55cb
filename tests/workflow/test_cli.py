"""`scones functions`, `scones workflow` and `scones testcases` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from tests.workflow.conftest import DEFINITIONS

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_functions_list_and_invoke(settings: Settings, tmp_path: Path) -> None:
    result = invoke("functions", "list")
    assert result.exit_code == 0 and "classify_image" in result.output
    ok = invoke("functions", "invoke", "filter_inferences", "--payload", '{"inferences": [0.97, 0.03]}')
    assert ok.exit_code == 0 and json.loads(ok.output)["body"]["inferences"] == [0.97, 0.03]
    payload = tmp_path / "event.json"
    payload.write_text('{"inferences": [0.5, 0.5]}')
    failed = invoke("functions", "invoke", "filter_inferences", "--payload", f"@{payload}")
    assert failed.exit_code == 1
    doc = json.loads(failed.output)
    assert doc["errorType"] == "ThresholdConfidenceNotMet" and isinstance(doc["stackTrace"], list)
    bad = invoke("functions", "invoke", "filter_inferences", "--payload", "{nope")
    assert bad.exit_code == 1 and "not JSON" in bad.output and "Traceback" not in bad.output


def test_workflow_commands(settings: Settings, images: dict[str, str], endpoint: Any) -> None:
    created = invoke(
        "workflow", "create", "console", "--definition", str(DEFINITIONS / "console_body_outputpath.asl.json"),
        "--function", "serializeImageData=serialize_image_data", "--function", "classifier=classify_image",
        "--function", "filter=filter_inferences",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["stateMachineArn"].endswith(":stateMachine:console")
    assert "console" in invoke("workflow", "list").output
    red = json.dumps({"s3_bucket": "scones", "s3_key": images["red"]})
    started = invoke(
        "workflow", "start-execution", "console", "--input", red, "--name", "red-one", "--type", "EXPRESS", "--wait",
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    assert json.loads(started.output)["status"] == "SUCCEEDED"
    low = invoke(
        "workflow",
        "start-execution",
        "console",
        "--input",
        json.dumps({"s3_bucket": "scones", "s3_key": images["grey"]}),
    )
    arn = json.loads(low.output)["executionArn"]
    described = json.loads(invoke("workflow", "describe-execution", arn).output)
    assert (described["status"], described["error"]) == ("FAILED", "ThresholdConfidenceNotMet")
    history = json.loads(invoke("workflow", "get-execution-history", arn).output)["events"]
    assert history[-1]["type"] == "ExecutionFailed"
    assert {"id", "previousEventId", "timestamp", "type"} <= set(history[0])
    listed = invoke("workflow", "list-executions", "console", "--status", "FAILED", "--json")
    assert [e["executionArn"] for e in json.loads(listed.output)] == [arn]
    graph = invoke("workflow", "graph", "console", "--execution", arn, "--out", str(settings.home / "g"))
    assert graph.exit_code == 0 and (settings.home / "g.svg").exists() and (settings.home / "g.png").exists()
    summary = invoke(
        "workflow", "run-testcases", "console", "--count", "6", "--concurrency", "2", "--seed", "1", "--json"
    )
    assert summary.exit_code == 0, summary.output
    data = json.loads(summary.output[summary.output.index("{") :])
    assert data["executions"] == 6 and data["succeeded"] + sum(data["failed"].values()) == 6
    cases = json.loads(invoke("testcases", "--count", "3", "--seed", "2").output)
    assert len(cases) == 3 and all(c["s3_bucket"] == "scones" for c in cases)


def test_errors_are_one_line(settings: Settings, tmp_path: Path) -> None:
    missing = invoke("workflow", "start-execution", "nope")
    assert missing.exit_code == 1 and "scones workflow create nope" in missing.output
    jsonata = invoke("workflow", "create", "j", "--definition", str(DEFINITIONS / "jsonata.asl.json"))
    assert jsonata.exit_code == 1 and "JSONata" in jsonata.output and "Traceback" not in jsonata.output
    unmapped = invoke("workflow", "create", "c", "--definition", str(DEFINITIONS / "console_payload_object.asl.json"))
    assert unmapped.exit_code == 1 and "--function serializeImageData=" in unmapped.output
    badmap = invoke("workflow", "create", "c", "--function", "x")
    assert badmap.exit_code == 1 and "AWS_NAME=" in badmap.output
    assert invoke("workflow", "create", "pipeline").exit_code == 0
    assert invoke("workflow", "start-execution", "pipeline", "--type", "FAST").exit_code == 1
    processes = invoke("workflow", "run-testcases", "pipeline", "--processes", "0")
    assert processes.exit_code == 1 and "--processes must be at least 1" in processes.output
    assert invoke("workflow", "worker").exit_code == 0
