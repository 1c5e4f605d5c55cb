"""SageMaker runtime (REST-JSON): InvokeEndpoint, forwarded to the scones endpoint of that name.

`POST /endpoints/<name>/invocations` goes to the endpoint process the registry lists, with the
body, Content-Type, Accept, TargetVariant (`X-Amzn-SageMaker-Target-Variant`), InferenceId
and CustomAttributes; the answer comes back with the variant that served it
(`X-Amzn-Invoked-Production-Variant`). A model error (4xx/5xx from the endpoint) is AWS's
ModelError, naming the original status; an unknown endpoint, AWS's ValidationException.
"""

from __future__ import annotations

import json

import httpx
from starlette.requests import Request
from starlette.responses import Response

from scones.config import Settings
from scones.endpoint.table import find
from scones.localaws.protocol import AwsError

FORWARDED = (
    "content-type", "accept", "x-amzn-sagemaker-target-variant", "x-amzn-sagemaker-inference-id",
    "x-amzn-sagemaker-custom-attributes",
)  # fmt: skip
RETURNED = ("content-type", "x-amzn-invoked-production-variant", "x-amzn-sagemaker-custom-attributes")


class Runtime:
    def __init__(self, settings: Settings, region: str, account_id: str) -> None:
        self.settings, self.region, self.account_id = settings, region, account_id
        self.client = httpx.AsyncClient(timeout=60)

    async def handle(self, request: Request) -> Response:
        parts = request.url.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 3 or parts[2] != "invocations":
            raise AwsError(
                "UnknownOperationException",
                f"{request.method} {request.url.path} is not an operation of sagemaker-runtime",
            )
        name = parts[1]
        record = find(self.settings, name)
        if record is None or record.status != "InService":
            raise AwsError("ValidationException", f"Endpoint {name} of account {self.account_id} not found.")
        headers = {k: v for k in FORWARDED if (v := request.headers.get(k))}
        if self.settings.auth_token:
            headers["authorization"] = f"Bearer {self.settings.auth_token}"
        try:
            answer = await self.client.post(
                f"{record.url}/endpoints/{name}/invocations", content=await request.body(), headers=headers
            )
        except httpx.HTTPError as exc:
            raise AwsError(
                "ServiceUnavailable", f"Endpoint {name} cannot be reached ({exc}); see 'scones endpoints'", 503, False
            ) from exc
        if answer.status_code != 200:
            raise AwsError(
                "ModelError",
                f'Received client error ({answer.status_code}) from primary with message "{_message(answer)}".',
                424,
            )
        return Response(answer.content, 200, {k: answer.headers[k] for k in RETURNED if k in answer.headers})

    async def close(self) -> None:
        await self.client.aclose()


def _message(answer: httpx.Response) -> str:
    try:
        return str(json.loads(answer.content)["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]
