"""The local AWS: one ASGI app that routes each request to the service it is signed for.

Routing follows LocalStack on 4566: the service in the SigV4 credential scope, else the
`X-Amz-Target` prefix, else the path (S3 is the default, as unsigned browser GETs are S3's).
Every error leaves in the protocol's error shape, so botocore raises the class users catch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from scones.config import Settings
from scones.localaws import logs_api, s3, sagemaker_logs, signing, states, sts
from scones.localaws.environments import Pools
from scones.localaws.functions import Functions
from scones.localaws.lambda_api import Lambda
from scones.localaws.logstore import LogStore
from scones.localaws.objects import Objects
from scones.localaws.protocol import AwsError, error_response, match_operation, not_supported, service_model
from scones.localaws.runtime import Runtime
from scones.localaws.sagemaker_api import SageMaker
from scones.localaws.settings import UpConfig

logger = logging.getLogger(__name__)

# SigV4 signing name -> botocore service name, for the services the seed's code calls
SIGNING_NAMES = {
    "s3": "s3",
    "sts": "sts",
    "sagemaker": "sagemaker",
    "lambda": "lambda",
    "states": "stepfunctions",
    "logs": "logs",
}
TARGET_PREFIXES = {"SageMaker": "sagemaker", "AWSStepFunctions": "stepfunctions", "Logs_20140328": "logs"}
SERVED = (
    "S3",
    "STS",
    "Lambda",
    "CloudWatch Logs",
    "Step Functions",
    "SageMaker",
    "SageMaker runtime",
)  # for the banner
MAX_DRAIN = 64 << 20  # an unread request body up to this size is read and dropped after an error


class LocalAws:
    """The ASGI app behind `scones up`: construct with the home's settings and an UpConfig."""

    def __init__(self, settings: Settings, config: UpConfig) -> None:
        self.settings, self.config = settings, config
        self.objects = Objects(settings)
        functions = Functions(settings.home / "localaws" / "lambda", config.region, config.account_id)
        credentials = (config.access_key or "test", config.secret_key or "test")
        # Functions call back into this server; serve() sets the real URL once the port is bound.
        self.pools = Pools(f"http://{config.host}:{config.port}", config.region, credentials)
        self.logs = LogStore(settings.logs_dir / "localaws")
        self.lambda_ = Lambda(functions, self.pools, self.objects, self.logs)
        self.states = states.States(settings, self.lambda_, config.region, config.account_id)
        self.sagemaker = SageMaker(settings, self.logs, config.region, config.account_id)
        self.runtime = Runtime(settings, config.region, config.account_id)
        self.handlers: dict[str, Callable[[Request, str], Awaitable[Response]]] = {
            "s3": lambda request, _: s3.handle(request, self.objects, config.region),
            "sts": lambda request, request_id: sts.handle(request, config.account_id, request_id),
            "lambda": lambda request, _: self.lambda_.handle(request),
            "logs": lambda request, _: self._logs(request),
            "stepfunctions": lambda request, _: self.states.handle(request),
            "sagemaker": lambda request, _: self.sagemaker.handle(request),
            "sagemaker-runtime": lambda request, _: self.runtime.handle(request),
        }

    async def _logs(self, request: Request) -> Response:
        """CloudWatch Logs; an endpoint's group is first brought up to date with its log file."""
        try:
            group = json.loads(await request.body() or b"{}").get("logGroupName")
        except (ValueError, AttributeError):
            group = None  # logs_api answers the protocol's error
        if isinstance(group, str):
            await asyncio.to_thread(sagemaker_logs.mirror, self.settings, self.logs, group)
        elif request.headers.get("x-amz-target", "").endswith(".DescribeLogGroups"):
            await asyncio.to_thread(sagemaker_logs.mirror_all, self.settings, self.logs)
        return await logs_api.handle(request, self.logs, self.config.region, self.config.account_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # startup resumes STANDARD executions; shutdown stops the Lambda workers
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.states.start(asyncio.get_running_loop())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.states.stop()
                    self.pools.close()
                    await self.runtime.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":  # websockets are not an AWS protocol here
            return
        if (b"expect", b"100-continue") in scope["headers"]:
            receive = await _continue_now(receive)
        request = Request(scope, receive)
        response = await self.dispatch(request)
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex
        service = route(request)
        protocol = service_model(service).protocol if service in SIGNING_NAMES.values() else "json"
        try:
            if self.config.access_key and self.config.secret_key:
                body = await request.body()
                signing.verify(request, body, self.config.access_key, self.config.secret_key, protocol)
            handler = self.handlers.get(service)
            if handler is None:
                raise _unserved(request, service)
            response = await handler(request, request_id)
        except AwsError as exc:
            return await _refuse(request, error_response(protocol, exc, request_id, head=request.method == "HEAD"))
        except Exception:  # the server's edge: log it, answer AWS's InternalError, stay up
            logger.exception("%s %s failed", request.method, request.url.path)
            error = AwsError("InternalError", "We encountered an internal error; see the scones up log", 500, False)
            return await _refuse(request, error_response(protocol, error, request_id, head=request.method == "HEAD"))
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amzn-RequestId"] = request_id
        return response


async def _continue_now(receive: Receive) -> Receive:
    """Answer `Expect: 100-continue` at once and hand the first body message back to the app.

    botocore sends every PutObject and UploadPart with that header and waits for the interim
    answer before it sends the body; uvicorn sends it only when the app first reads, after routing.
    Reading first takes that wait off each upload's path (`aws s3 sync` makes one per file).
    """
    first = await receive()
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(request: Request, response: Response) -> Response:
    """An error may come before the body was read: drain a small one, else close the connection.

    An unread body left on a keep-alive connection would be parsed as the next request.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) <= MAX_DRAIN:
        async for _ in request.stream():
            pass
    elif length or "transfer-encoding" in request.headers:
        response.headers["connection"] = "close"
    return response


def route(request: Request) -> str:
    """The botocore name of the service a request is for."""
    signing_name = signing.scope_service(request.headers, request.query_params)
    target = request.headers.get("x-amz-target", "").split(".", 1)[0]
    if signing_name == "sagemaker" and request.url.path.startswith("/endpoints/"):
        return "sagemaker-runtime"
    if signing_name:
        return SIGNING_NAMES.get(signing_name, signing_name)
    if target in TARGET_PREFIXES:
        return TARGET_PREFIXES[target]
    if request.url.path.startswith("/2015-03-31/functions"):
        return "lambda"
    if request.url.path.startswith("/endpoints/"):
        return "sagemaker-runtime"
    return "s3"


def _unserved(request: Request, service: str) -> AwsError:
    """The not-supported error naming the operation, for services and operations not served yet."""
    if service not in SIGNING_NAMES.values() and service != "sagemaker-runtime":
        return AwsError("UnknownServiceException", f"The service {service!r} is not served locally by scones up", 400)
    target = request.headers.get("x-amz-target", "")
    if "." in target:
        return not_supported(service, target.split(".", 1)[1])
    if service == "sagemaker-runtime":
        return not_supported(service, "InvokeEndpoint")
    try:
        path = request.url.path
        operation = match_operation(service, request.method, path, request.query_params, request.headers)
    except AwsError:
        operation = f"{request.method} {request.url.path}"
    return not_supported(service, operation)
