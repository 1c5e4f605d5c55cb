"""The HTTP transport: a raw ASGI app over `InferenceService` (thin: parse, call, render).

Routes (SageMaker's container contract and public runtime route):
    GET  /ping                          200 once every variant's model is loaded, else 503 (never needs a token)
    POST /invocations                   image bytes -> JSON probabilities
    POST /endpoints/{name}/invocations  the same, as boto3's sagemaker-runtime client calls it
    GET  /metrics                       Prometheus text, labelled by variant

An invocation goes to the production variant the `Router` picks by weight, or to the one named
by `X-Amzn-SageMaker-Target-Variant`; `X-Amzn-Invoked-Production-Variant` says which answered.
A shadow variant, if any, gets its share of copies once production has answered (`shadow.py`).

Raw ASGI rather than a framework router: the hot path is one request shape, and this keeps it
to a dictionary lookup and a few header reads. Every error is an exception whose class carries
its status; `errors.render` is the one place that turns it into a response.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from scones.config import Settings
from scones.endpoint.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestError,
    Unauthorized,
    ValidationError,
    render,
)
from scones.endpoint.metrics import CONTENT_TYPE as METRICS_TYPE, render as render_metrics
from scones.endpoint.router import Router
from scones.endpoint.service import EndpointConfig, InferenceService
from scones.endpoint.shadow import Mirror
from scones.endpoint.slot import ModelSlot
from scones.endpoint.watcher import ModelWatcher
from scones.model.artifact import Artifact
from scones.storage import Store

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
_ROUTES = {"/ping": "ping", "/metrics": "metrics", "/invocations": "invocations"}


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class App:
    """ASGI app for one endpoint; the model loads at lifespan startup, in each worker process.

    Constructed from plain data (artifacts, config, settings) so it can be pickled to worker
    processes before anything heavy exists. `variants` are the (name, weight, model, shadow) it
    starts with (default: `artifact` alone as `config.variant`); what it serves now is in `router`'s
    slots, which a `ModelWatcher` changes (update-endpoint, update-endpoint-weights).
    """

    def __init__(
        self,
        artifact: Artifact,
        config: EndpointConfig,
        settings: Settings,
        variants: Sequence[tuple[str, float, Artifact, bool]] = (),
        invocations: Any = None,
    ) -> None:
        self.config, self.settings = config, settings
        self.variants = list(variants) or [(config.variant, 1.0, artifact, False)]
        self.artifact = self.variants[0][2]
        self.router = Router([ModelSlot(name, weight, shadow=shadow) for name, weight, _, shadow in self.variants])
        self.mirror = Mirror()
        self.watcher: ModelWatcher | None = None
        self._token = f"Bearer {config.auth_token}".encode() if config.auth_token else None
        self.invocations = invocations  # with target tracking: a Value shared by every worker (see scaling.py)

    @property
    def slot(self) -> ModelSlot:
        """The first variant's slot (all there is on a single-variant endpoint)."""
        return self.router.primary

    def start(self) -> None:
        import asyncio

        for name, _, artifact, _ in self.variants:
            config = replace(self.config, variant=name)  # its captures go under its own name
            self.router.slots[name].service = InferenceService(artifact, config, Store(self.settings))
        # update-endpoint: follow the registry's row and change the slots through the router (endpoint/watcher.py)
        self.watcher = ModelWatcher(self.router, self.config, self.settings, asyncio.get_running_loop()).start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        self.router.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:  # process edge: tell the server why it cannot start
                    logger.exception("Endpoint failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.mirror.drain()  # the shadow's copies in flight finish and are captured
                self.stop()  # in-flight requests have finished; this flushes capture
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        answered: list[InferenceService] = []  # the service that took the request, for its metrics
        try:
            reply = await self._dispatch(path, method, scope, receive, answered)
        except _Disconnected:
            return
        except Exception as exc:  # the one error handler of the server
            if not isinstance(exc, RequestError):
                logger.exception("Unexpected failure on %s %s", method, path)
            reply = render(exc)
        status, headers, body = reply
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        service = answered[0] if answered else self.slot.service
        if service is not None:
            route = _ROUTES.get(path) or ("invocations" if path.endswith("/invocations") else "other")
            service.metrics.requests.labels(route, str(status)).inc()
            if route == "invocations":
                service.metrics.latency.observe(time.perf_counter() - started)

    async def _dispatch(
        self, path: str, method: str, scope: Scope, receive: Receive, answered: list[InferenceService]
    ) -> Reply:
        if path == "/ping":
            _allow(method, ("GET", "HEAD"))
            self.router.ready()
            return (200, [(b"content-length", b"0")], b"")
        headers = _headers(scope)
        if path == "/invocations" or (path.startswith("/endpoints/") and path.endswith("/invocations")):
            name = path[len("/endpoints/") : -len("/invocations")] if path != "/invocations" else self.config.name
            if name != self.config.name:
                raise NotFound(f"Endpoint {name!r} not found; this server serves {self.config.name!r}")
            _allow(method, ("POST",))
            self._authorize(headers)
            return await self._invoke(headers, receive, answered)
        if path == "/metrics":
            _allow(method, ("GET",))
            self._authorize(headers)
            body = render_metrics({name: slot.ready().metrics for name, slot in self.router.slots.items()})
            return 200, [(b"content-type", METRICS_TYPE.encode())], body
        raise NotFound()

    async def _invoke(self, headers: dict[bytes, bytes], receive: Receive, answered: list[InferenceService]) -> Reply:
        if self.invocations is not None:
            with self.invocations.get_lock():
                self.invocations.value += 1
        target = headers.get(b"x-amzn-sagemaker-target-variant", b"").decode("latin-1")
        if target:  # refused before the body is read
            self.router.pick(target).ready()
        else:
            self.router.ready()
        body = await _read_body(receive, headers.get(b"content-length"), self.config.max_body_bytes)
        given_id = headers.get(b"x-amzn-sagemaker-inference-id")
        inference_id = given_id.decode("latin-1") if given_id else None
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        slot = self.router.pick(target)  # picked after the body: weights or models may have changed meanwhile
        shadow = self.router.shadow
        mirrored = shadow is not None and self.mirror.wanted(shadow)
        if mirrored and inference_id is None:
            inference_id = uuid.uuid4().hex  # both captures carry it: the shadow report pairs them by it
        with slot.serving() as service:
            answered.append(service)
            reply, reply_type = await service.invoke(
                body, content_type, headers.get(b"accept", b"").decode("latin-1"), inference_id
            )
        if mirrored and shadow is not None and inference_id is not None:
            self.mirror.offer(shadow, body, content_type, inference_id)  # after production answered; never waits
        if slot.compare_with:  # a deployment's candidate: a share is compared with the old model, off the path
            self.mirror.compare(slot, self.router.slots.get(slot.compare_with), reply, body)
        response_headers = [
            (b"content-type", reply_type.encode()),
            (b"content-length", str(len(reply)).encode()),
            (b"x-amzn-invoked-production-variant", slot.variant.encode()),
        ]
        return 200, response_headers, reply

    def _authorize(self, headers: dict[bytes, bytes]) -> None:
        if self._token is None:
            return  # SigV4 and other auth headers are ignored, as a container must
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._token):
            raise Unauthorized()


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])  # ASGI header names are already lower-case


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise MethodNotAllowed(f"{method} is not allowed here; use {' or '.join(allowed)}")


async def _read_body(receive: Receive, content_length: bytes | None, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` (never read unbounded)."""
    too_large = PayloadTooLarge(f"Request body is over the {limit // (1024 * 1024)} MB limit; send a smaller image")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ValidationError("Content-Length is not a number") from None
        if declared > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
