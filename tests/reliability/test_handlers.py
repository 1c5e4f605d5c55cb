"""The three Lambda handlers under hostile events (hypothesis): every event either gets a
JSON-serialisable answer or raises a named scones error (its class name is the Lambda
errorType Step Functions matches); never KeyError, TypeError or another accident. Runs on a
real local store and state database (no endpoint registered: classify ends in a named error).
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scones.errors import SconesError
from scones.functions import classify_image, filter_inferences, serialize_image_data
from scones.functions.errors import InvalidEvent, PayloadTooLarge
from scones.storage import Store
from tests.helpers import png_bytes

# Hypothesis warns when the global `random` state moves while it draws an example; here that is
# other threads of the test process (capture sampling, Step Functions retry jitter of an earlier
# test's executions), not the strategies, which use no `random`.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
HANDLERS = {
    "serialize_image_data": serialize_image_data.handler,
    "classify_image": classify_image.handler,
    "filter_inferences": filter_inferences.handler,
}
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(["", "..", "../../etc/passwd", "/abs", "a//b", "data/test/red.png",
                                           "scones", "s3://scones/x", "\x00", "eA==", "***"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # noqa: E501
FIELDS = ("image_data", "s3_bucket", "s3_key", "inferences", "statusCode", "body")
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)
events = st.one_of(
    json_values,
    bodies,
    st.builds(lambda b: {"statusCode": 200, "body": b}, bodies),
    st.builds(lambda b: {"statusCode": 200, "body": json.dumps(b, allow_nan=True)}, bodies),
)


def outcome(name: str, event: Any) -> str:
    try:
        answer = HANDLERS[name](event, None)
    except SconesError as exc:
        return type(exc).__name__
    json.dumps(answer, allow_nan=False)  # what a Lambda returns must be JSON
    return "ok"


@pytest.mark.parametrize("name", sorted(HANDLERS))
@FUZZ
@given(event=events)
def test_hostile_events_end_in_an_answer_or_a_named_error(name: str, event: Any, store: Store) -> None:
    store.put("scones", "data/test/red.png", png_bytes())
    assert outcome(name, event) in ("ok", "InvalidEvent", "InvalidKey", "ImageNotFound", "EndpointNotFound",
                                    "PayloadTooLarge", "ThresholdConfidenceNotMet", "StorageError")  # fmt: skip


@pytest.mark.parametrize("values", [[math.nan, math.nan], [math.inf, 0.0], [5.0, -4.0], [1.5], [-0.1, 0.99]])
def test_filter_refuses_impossible_probabilities(values: list[float]) -> None:
    """NaN, infinities and values outside [0, 1] are not confidences: they must not pass the filter."""
    with pytest.raises(InvalidEvent, match="inferences"):
        filter_inferences.handler({"inferences": values}, None)


def test_serialize_refuses_a_key_escaping_the_bucket(store: Store) -> None:
    from scones.errors import InvalidKey

    store.put("scones", "data/test/red.png", png_bytes())  # the bucket exists
    (store.settings.home / "secret.txt").write_text("outside every bucket")
    for key in ("../../secret.txt", "../secret.txt", "/etc/passwd", "data/../../../secret.txt"):
        with pytest.raises(InvalidKey):
            serialize_image_data.handler({"s3_bucket": "scones", "s3_key": key}, None)


def test_classify_refuses_garbage_image_data() -> None:
    with pytest.raises(InvalidEvent):
        classify_image.handler({"image_data": "%%%" * 1000}, None)


def test_classify_refuses_a_7_mb_image_before_calling_a_running_endpoint(store: Store) -> None:
    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.service import EndpointConfig
    from tests.helpers import tiny_artifact

    settings = load_settings()
    store.put(settings.bucket, "models/t/model.tar.gz", tiny_artifact().pack())
    config = EndpointConfig(name=settings.endpoint_name, port=0)
    registry.deploy(settings, config, f"s3://{settings.bucket}/models/t/model.tar.gz")
    try:
        small = classify_image.handler({"image_data": base64.b64encode(png_bytes()).decode()}, None)
        assert len(small["body"]["inferences"]) == 2  # the endpoint is found and answers
        with pytest.raises(PayloadTooLarge, match="7000000 bytes"):
            classify_image.handler({"image_data": base64.b64encode(b"\0" * 7_000_000).decode()}, None)
    finally:
        registry.delete(settings, settings.endpoint_name)
