from __future__ import annotations

import pytest

from scones.errors import ConfigError
from scones.functions.errors import InvalidEvent, ThresholdConfidenceNotMet
from scones.functions.filter_inferences import handler


def test_confident_event_passes_through_in_both_shapes() -> None:
    body = {"image_data": "eA==", "s3_bucket": "scones", "s3_key": "k.png", "inferences": [0.95, 0.05]}
    assert handler({"statusCode": 200, "body": body}, None) == {"statusCode": 200, "body": body}
    assert handler(body, None) == {"statusCode": 200, "body": body}


def test_exactly_the_threshold_passes() -> None:
    assert handler({"inferences": [0.93, 0.07]}, None)["body"]["inferences"] == [0.93, 0.07]


def test_low_confidence_fails_loudly_with_the_inferences() -> None:
    with pytest.raises(ThresholdConfidenceNotMet, match=r"\[0.6, 0.4\]") as info:
        handler({"statusCode": 200, "body": {"inferences": [0.6, 0.4]}}, None)
    assert info.value.threshold == 0.93


def test_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_THRESHOLD", "0.5")
    assert handler({"inferences": [0.6, 0.4]}, None)["statusCode"] == 200
    monkeypatch.setenv("SCONES_THRESHOLD", "2")
    with pytest.raises(ConfigError, match="threshold"):
        handler({"inferences": [0.6, 0.4]}, None)


def test_body_as_a_json_string_is_accepted() -> None:
    assert handler({"statusCode": 200, "body": '{"inferences": [0.99, 0.01]}'}, None)["statusCode"] == 200


@pytest.mark.parametrize("inferences", [None, [], ["x"], [True], "0.99"])
def test_bad_inferences(inferences: object) -> None:
    with pytest.raises(InvalidEvent, match="inferences"):
        handler({"inferences": inferences}, None)
