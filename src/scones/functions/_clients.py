"""Storage and endpoint clients that pick local or AWS from the functions' settings.

Local storage reads `<home>/buckets/<bucket>/<key>`; "s3" storage uses boto3 (endpoint URL
configurable, so moto or MinIO work). A local endpoint is found in the state database
(`scones.endpoint.table.url_and_status`, standard library only) and called over HTTP; a SageMaker endpoint
through boto3 `sagemaker-runtime`. Every failure becomes one of the named errors in
`scones.functions.errors`; every network call has a bounded timeout.
Standard library and boto3 only: this module ships in the Lambda zips.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from scones.endpoint.table import url_and_status
from scones.errors import StorageError
from scones.functions._settings import STATE_PAYLOAD_LIMIT, FunctionSettings
from scones.functions.errors import (
    EndpointNotFound,
    EndpointUnavailable,
    ImageNotFound,
    ModelError,
    PayloadTooLarge,
)
from scones.keys import validate_bucket, validate_key

# The base64 image must leave room for the rest of the event inside one state payload.
MAX_IMAGE_BYTES = (STATE_PAYLOAD_LIMIT - 4096) * 3 // 4


def read_object(settings: FunctionSettings, bucket: str, key: str) -> bytes:
    """The object's bytes; ImageNotFound, InvalidKey or PayloadTooLarge otherwise."""
    validate_bucket(bucket)
    validate_key(key)
    if settings.storage_kind == "local":
        return _read_local(settings.home / "buckets", bucket, key)
    return _read_s3(settings, bucket, key)


def _too_large(bucket: str, key: str, size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"s3://{bucket}/{key} is {size} bytes; base64 in the event it would exceed the "
        f"{STATE_PAYLOAD_LIMIT}-byte state limit (max {MAX_IMAGE_BYTES} bytes); resize the image"
    )


def _read_local(root: Path, bucket: str, key: str) -> bytes:
    bucket_dir = (root / bucket).resolve()
    path = (bucket_dir / key).resolve()
    if not path.is_relative_to(bucket_dir):  # a symlink pointing out of the bucket
        raise ImageNotFound(bucket, key)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageNotFound(bucket, key)
        if size > MAX_IMAGE_BYTES:
            raise _too_large(bucket, key, size)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageNotFound(bucket, key) from exc
    except OSError as exc:
        raise StorageError(f"Cannot read s3://{bucket}/{key} under {root}: {exc}; check the scones home") from exc


def _read_s3(settings: FunctionSettings, bucket: str, key: str) -> bytes:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength", 0))
        if size > MAX_IMAGE_BYTES:
            response["Body"].close()
            raise _too_large(bucket, key, size)
        return bytes(response["Body"].read())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
            raise ImageNotFound(bucket, key) from exc
        raise StorageError(f"S3 refused s3://{bucket}/{key}: {code} {exc}; check the bucket and permissions") from exc
    except BotoCoreError as exc:
        raise StorageError(f"Cannot reach S3 for s3://{bucket}/{key}: {exc}; check SCONES_S3_ENDPOINT_URL") from exc


def content_type(image: bytes) -> str:
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/x-image"


def classify(settings: FunctionSettings, image: bytes) -> list[float]:
    """Send `image` to the configured endpoint; the per-class probabilities it answers."""
    if settings.endpoint_kind == "sagemaker":
        body = _invoke_sagemaker(settings, image)
    else:
        body = _invoke_local(settings, image)
    return _probabilities(settings.endpoint_name, body)


_URL_TTL = 2.0  # seconds an endpoint's URL is reused before the registry is read again
_urls: dict[tuple[str, str], tuple[float, str]] = {}
# Idle keep-alive connections per (scheme, host:port), shared by all threads (the interpreter runs
# each task in a new thread, so per-thread connections would never be reused).
_idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
_idle_lock = threading.Lock()
_MAX_IDLE = 32
# A forked child must not share its parent's sockets: it opens its own.
os.register_at_fork(after_in_child=_idle.clear)


def local_endpoint_url(settings: FunctionSettings) -> str:
    """The URL of the named local endpoint, read from the state database (cached for a moment)."""
    name, db = settings.endpoint_name, settings.home / "state.db"
    cached = _urls.get((str(db), name))
    if cached is not None and time.monotonic() - cached[0] < _URL_TTL:
        return cached[1]
    try:
        row = url_and_status(db, name)
    except sqlite3.Error as exc:
        raise EndpointNotFound(f"No endpoint registry at {db} ({exc}); run 'scones deploy' first") from exc
    if row is None:
        raise EndpointNotFound(f"No endpoint named {name!r} in {db}; run 'scones deploy' or set SCONES_ENDPOINT_NAME")
    url, status = row
    if status != "InService" or not url:
        raise EndpointUnavailable(f"Endpoint {name!r} is {status}, not InService; wait for it or redeploy")
    _urls[(str(db), name)] = (time.monotonic(), str(url))
    return str(url)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST over this thread's keep-alive connection to the host; one fresh retry if a reused one was stale."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointUnavailable(f"Endpoint URL {url!r} is not http(s); redeploy the endpoint")
    key = (parts.scheme, parts.netloc)
    for attempt in range(2):
        with _idle_lock:
            conn = _idle.get(key, []).pop() if _idle.get(key) else None
        reused = conn is not None
        if conn is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = kind(parts.hostname, parts.port, timeout=timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("POST", parts.path or "/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if not reused or attempt:  # a fresh connection that fails is a real failure
                raise
            continue
        except (http.client.HTTPException, OSError):
            conn.close()
            raise
        with _idle_lock:
            idle = _idle.setdefault(key, [])
            if len(idle) < _MAX_IDLE and not response.will_close:
                idle.append(conn)
            else:
                conn.close()
        return response.status, data
    raise EndpointUnavailable(f"Endpoint at {url} kept closing the connection")  # not reached: the loop returns


def _invoke_local(settings: FunctionSettings, image: bytes) -> bytes:
    headers = {"Content-Type": content_type(image), "Accept": "application/json"}
    if settings.auth_token:
        headers["Authorization"] = f"Bearer {settings.auth_token}"
    name = settings.endpoint_name
    url = local_endpoint_url(settings).rstrip("/") + "/invocations"
    try:
        status, body = _post(url, image, headers, settings.endpoint_timeout)
    except (http.client.HTTPException, OSError) as exc:
        _urls.clear()  # the endpoint may have moved (redeployed): read the registry again
        moved = local_endpoint_url(settings).rstrip("/") + "/invocations"
        if moved == url:
            raise EndpointUnavailable(f"Endpoint {name!r} at {url} is unreachable: {exc}; is it running?") from exc
        url = moved
        try:
            status, body = _post(url, image, headers, settings.endpoint_timeout)
        except (http.client.HTTPException, OSError) as again:
            raise EndpointUnavailable(f"Endpoint {name!r} at {url} is unreachable: {again}; is it running?") from again
    if status == 200:
        return body
    detail = body[:300].decode("utf-8", "replace")
    if status in (400, 413, 415, 422, 424):
        raise ModelError(f"Endpoint {name!r} refused the image ({status}): {detail}")
    raise EndpointUnavailable(f"Endpoint {name!r} answered {status}: {detail}; retry later")


def _invoke_sagemaker(settings: FunctionSettings, image: bytes) -> bytes:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    timeout = settings.endpoint_timeout
    client = boto3.client(
        "sagemaker-runtime",
        region_name=settings.aws_region,
        endpoint_url=settings.sagemaker_endpoint_url,
        # One attempt: the state machine's Retry owns retrying, with its own backoff.
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )
    name = settings.endpoint_name
    try:
        response = client.invoke_endpoint(
            EndpointName=name, ContentType=content_type(image), Accept="application/json", Body=image
        )
        return bytes(response["Body"].read())
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        if code == "ValidationError" and "not found" in message.lower():
            raise EndpointNotFound(f"SageMaker endpoint {name!r} not found: {message}") from exc
        if code in ("ModelError", "ValidationError"):
            raise ModelError(f"SageMaker endpoint {name!r} refused the image ({code}): {message}") from exc
        raise EndpointUnavailable(f"SageMaker endpoint {name!r} failed ({code}): {message}; retry later") from exc
    except BotoCoreError as exc:
        raise EndpointUnavailable(f"SageMaker endpoint {name!r} is unreachable: {exc}") from exc


def _probabilities(name: str, body: bytes) -> list[float]:
    try:
        values: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"Endpoint {name!r} answered non-JSON: {body[:100]!r}") from exc
    if isinstance(values, dict) and "prediction" in values:  # accept: application/jsonlines style
        values = values["prediction"]
    if not isinstance(values, list) or not values or not all(isinstance(v, int | float) for v in values):
        raise ModelError(f"Endpoint {name!r} answered {str(values)[:100]}, not a list of probabilities")
    return [float(v) for v in values]
