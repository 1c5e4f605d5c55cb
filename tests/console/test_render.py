"""The template filters pages share."""

from __future__ import annotations

import json

from scones.console import render


def test_long_strings_in_json_are_cut_to_a_stub() -> None:
    text = render.env.filters["pretty_json"]({"image_data": "A" * 5000, "s3_key": "test/x.png"})
    assert "A" * 49 not in text and "(5,000 characters)" in text
    assert '"s3_key": "test/x.png"' in text
    assert render.env.filters["pretty_json"]('{"a": [1, 2]}') == json.dumps({"a": [1, 2]}, indent=2)


def test_numbers_statuses_and_times() -> None:
    f = render.env.filters
    assert f["number"](12345) == "12,345" and f["number"](0.5) == "0.500" and f["number"](None) == "-"
    assert f["number"](0.00001, 3) == "1e-05" and f["number"](True) == "True"
    assert f["percent"](0.934) == "93.4%"
    assert f["when"]("2026-01-02T10:11:12.345Z") == "2026-01-02 10:11:12"
    assert f["duration"](0.0123) == "12 ms" and f["duration"](75) == "75.0 s" and f["duration"](600) == "10 min 0 s"
    assert [f["status_class"](s) for s in ("SUCCEEDED", "InService", "FAILED", "CompletedWithViolations")] == [
        "ok", "ok", "bad", "bad"]  # fmt: skip
    assert f["status_class"]("RUNNING") == "busy" and f["status_class"](None) == "neutral"
    assert f["store_url"]("s3://scones/monitoring/x/a.png") == "/store/scones/monitoring/x/a.png"
    assert f["store_url"]("/etc/passwd") is None


def test_lambda_error_documents_show_their_message() -> None:
    cause = json.dumps({"errorType": "ThresholdConfidenceNotMet", "errorMessage": "inferences [0.5, 0.5]"})
    assert render.env.filters["error_message"](cause) == "inferences [0.5, 0.5]"
    assert render.env.filters["error_message"]("plain words") == "plain words"
