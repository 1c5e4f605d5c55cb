"""The seed's pipeline end to end: real files, the real endpoint, the shipped ASL and console exports."""

from __future__ import annotations

from typing import Any

import pytest

from scones.config import Settings
from scones.workflow import executions, machines, records
from tests.functions.support import closed_port_url, register
from tests.workflow.conftest import DEFINITIONS

CONSOLE_MAPPING = {
    "serializeImageData": "serialize_image_data",
    "imageClassification": "classify_image",
    "filterLowConfidence": "filter_inferences",
    "classifier": "classify_image",
    "filter": "filter_inferences",
}


def start(settings: Settings, machine: str, key: str, type_: str = "EXPRESS") -> records.Execution:
    return executions.start(settings, machine, {"image_data": "", "s3_bucket": "scones", "s3_key": key}, type_=type_)


@pytest.mark.parametrize("type_", ["EXPRESS", "STANDARD"])
def test_confident_image_succeeds(
    settings: Settings, images: dict[str, str], endpoint: Any, pipeline: Any, type_: str
) -> None:
    execution = start(settings, "pipeline", images["red"], type_)
    assert execution.status == "SUCCEEDED", execution.cause
    import json

    body = json.loads(execution.output or "")["body"]
    assert body["s3_key"] == images["red"] and body["inferences"][0] > 0.93


def test_low_confidence_fails_loudly(settings: Settings, images: dict[str, str], endpoint: Any, pipeline: Any) -> None:
    execution = start(settings, "pipeline", images["grey"])
    assert (execution.status, execution.error) == ("FAILED", "ThresholdConfidenceNotMet")
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in (execution.cause or "")


def test_missing_image_fails_with_its_name(
    settings: Settings, images: dict[str, str], endpoint: Any, pipeline: Any
) -> None:
    execution = start(settings, "pipeline", "data/test/none.png")
    assert (execution.status, execution.error) == ("FAILED", "ImageNotFound")


def test_endpoint_down_is_retried_then_fails(settings: Settings, images: dict[str, str], pipeline: Any) -> None:
    register(settings, closed_port_url())
    execution = start(settings, "pipeline", images["red"])
    assert (execution.status, execution.error) == ("FAILED", "EndpointUnavailable")
    events = records.history(settings, execution)
    classify_calls = [e for e in events if e["type"] == "TaskScheduled" and "classify_image" in str(e)]
    assert len(classify_calls) == 3  # the first try and MaxAttempts 2 retries


@pytest.mark.parametrize("file", ["console_payload_object.asl.json", "console_body_outputpath.asl.json"])
def test_console_exports_run_without_edits(
    settings: Settings, images: dict[str, str], endpoint: Any, file: str
) -> None:
    machines.create(settings, "console", (DEFINITIONS / file).read_text(), CONSOLE_MAPPING)
    ok = start(settings, "console", images["blue"])
    assert ok.status == "SUCCEEDED", ok.cause
    low = start(settings, "console", images["grey"])
    assert low.status == "FAILED"
    if file == "console_body_outputpath.asl.json":  # no Catch: the filter's error name surfaces
        assert low.error == "ThresholdConfidenceNotMet"
    else:  # Catch States.ALL -> an anonymous Fail state
        types = [e["type"] for e in records.history(settings, low)]
        assert "FailStateEntered" in types


def test_direct_function_arns(settings: Settings, images: dict[str, str], endpoint: Any) -> None:
    machines.create(settings, "direct", (DEFINITIONS / "direct_arn.asl.json").read_text())
    assert start(settings, "direct", images["red"]).status == "SUCCEEDED"


def test_functions_run_with_the_workflows_settings_not_the_environment(
    settings: Settings, images: dict[str, str], pipeline: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SCONES_HOME", str(tmp_path / "elsewhere"))  # as a Lambda's env would differ
    execution = start(settings, "pipeline", images["red"])
    assert execution.error == "EndpointNotFound"  # the image was read from settings.home; no endpoint there
