from __future__ import annotations

import base64

import pytest

from scones.config import Settings
from scones.functions.classify_image import handler
from scones.functions.errors import EndpointNotFound, EndpointUnavailable, InvalidEvent, ModelError
from tests.functions.support import BLUE, GREY, RED, closed_port_url, live_endpoint, register, status_server
from tests.helpers import png_bytes


def event(colour: tuple[int, int, int], wrapped: bool = True) -> dict[str, object]:
    body = {"image_data": base64.b64encode(png_bytes(colour)).decode(), "s3_bucket": "scones", "s3_key": "k.png"}
    return {"statusCode": 200, "body": {**body, "inferences": []}} if wrapped else body


def test_real_endpoint_classifies_through_the_state_database(settings: Settings) -> None:
    with live_endpoint(settings):
        red = handler(event(RED), None)["body"]["inferences"]
        blue = handler(event(BLUE, wrapped=False), None)["body"]["inferences"]
        grey = handler(event(GREY), None)["body"]["inferences"]
    assert red[0] > 0.93 and blue[1] > 0.93
    assert abs(grey[0] - 0.5) < 0.05
    assert pytest.approx(sum(red), abs=1e-4) == 1.0


def test_fields_pass_through(settings: Settings) -> None:
    with live_endpoint(settings):
        body = handler(event(RED), None)["body"]
    assert (body["s3_bucket"], body["s3_key"]) == ("scones", "k.png")


def test_sagemaker_runtime_client_against_the_real_endpoint(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_endpoint(settings) as server:
        monkeypatch.setenv("SCONES_ENDPOINT_MODE", "sagemaker")
        monkeypatch.setenv("SCONES_SAGEMAKER_ENDPOINT_URL", server.url)
        assert handler(event(RED), None)["body"]["inferences"][0] > 0.93
        with pytest.raises(ModelError):
            handler({"image_data": base64.b64encode(b"not an image").decode()}, None)


def test_unknown_endpoint(settings: Settings) -> None:
    with pytest.raises(EndpointNotFound, match="scones deploy"):
        handler(event(RED), None)
    register(settings, "http://127.0.0.1:1", name="other")
    with pytest.raises(EndpointNotFound, match="bike-motorbike-image-classifier"):
        handler(event(RED), None)


def test_endpoint_down_or_not_in_service_is_unavailable(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    register(settings, closed_port_url())
    with pytest.raises(EndpointUnavailable, match="unreachable"):
        handler(event(RED), None)
    register(settings, closed_port_url(), status="Creating")
    with pytest.raises(EndpointUnavailable, match="Creating"):
        handler(event(RED), None)
    with status_server(503) as url:
        register(settings, url)
        with pytest.raises(EndpointUnavailable, match="503"):
            handler(event(RED), None)


def test_timeout_is_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        register(settings, f"http://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("SCONES_ENDPOINT_TIMEOUT", "0.3")
        with pytest.raises(EndpointUnavailable):
            handler(event(RED), None)


def test_model_errors_are_not_retryable_errors(settings: Settings) -> None:
    with live_endpoint(settings):
        with pytest.raises(ModelError):
            handler({"image_data": base64.b64encode(b"definitely not a png").decode()}, None)
    with status_server(200, b'{"not": "a list"}') as url:
        register(settings, url)
        with pytest.raises(ModelError, match="not a list"):
            handler(event(RED), None)


def test_bad_base64(settings: Settings) -> None:
    with pytest.raises(InvalidEvent, match="base64"):
        handler({"image_data": "!!!"}, None)
