"""HTTP errors of the endpoint: each class carries its status and SageMaker error type.

    EndpointError (scones.errors)
    └── RequestError            500 InternalFailure (anything unexpected; logged, no traceback sent)
        ├── ValidationError     400 bad body: empty, not an image, truncated, decompression bomb
        ├── Unauthorized        401 missing or wrong bearer token
        ├── NotFound            404 unknown route or endpoint name
        ├── MethodNotAllowed    405 known route, wrong method
        ├── NotAcceptable       406 Accept asks for a format the model cannot give
        ├── PayloadTooLarge     413 body over the 6 MB real-time limit
        ├── UnsupportedMedia    415 Content-Type is not an image type
        ├── ModelError          424 the model failed on a valid input
        └── ServiceUnavailable  503 not ready (loading or shutting down)

One function, `render`, turns any of them (and any other exception, as InternalFailure) into
the JSON body and headers, so boto3's sagemaker-runtime client raises the same ClientError
codes it raises against AWS (it reads `x-amzn-ErrorType` and `message`).
"""

from __future__ import annotations

import json

from scones.errors import EndpointError


class RequestError(EndpointError):
    """An error answered over HTTP; subclasses set `status` and `error_type`."""

    status = 500
    error_type = "InternalFailure"
    default_message = "The endpoint failed to handle the request; see the endpoint log"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class ValidationError(RequestError):
    status = 400
    error_type = "ValidationError"
    default_message = "The request is not valid"


class Unauthorized(RequestError):
    status = 401
    error_type = "UnauthorizedError"
    default_message = "Missing or wrong token: send 'Authorization: Bearer <token>'"


class NotFound(RequestError):
    status = 404
    error_type = "NotFound"
    default_message = "No such route: use GET /ping, POST /invocations or POST /endpoints/{name}/invocations"


class MethodNotAllowed(RequestError):
    status = 405
    error_type = "MethodNotAllowed"


class NotAcceptable(RequestError):
    status = 406
    error_type = "ValidationError"


class PayloadTooLarge(RequestError):
    status = 413
    error_type = "ValidationError"


class UnsupportedMedia(RequestError):
    status = 415
    error_type = "ValidationError"


class ModelError(RequestError):
    status = 424
    error_type = "ModelError"
    default_message = "The model failed on this input; see the endpoint log"


class ServiceUnavailable(RequestError):
    status = 503
    error_type = "ServiceUnavailable"
    default_message = "The endpoint is not ready (loading the model or shutting down); retry shortly"


def render(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for any exception; unknown ones become a bare InternalFailure."""
    error = exc if isinstance(exc, RequestError) else RequestError()
    body = json.dumps({"type": error.error_type, "message": str(error)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-errortype", error.error_type.encode()),
    ]
    return error.status, headers, body
