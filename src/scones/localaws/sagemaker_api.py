"""SageMaker (JSON 1.1): training and transform jobs, hosting and the model registry, one handler per operation.

Each operation is a method of `Training`, `TransformJobs`, `Hosting` or `Registry` taking the
request body and returning the response members. They call scones' cores, which block (sqlite, process starts,
a blue/green step), so they run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scones.config import Settings
from scones.localaws.logstore import LogStore
from scones.localaws.protocol import json_call
from scones.localaws.sagemaker_hosting import Hosting
from scones.localaws.sagemaker_records import Records
from scones.localaws.sagemaker_registry import Registry
from scones.localaws.sagemaker_training import Training
from scones.localaws.sagemaker_transform import TransformJobs

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class SageMaker:
    def __init__(self, settings: Settings, logs: LogStore, region: str, account_id: str) -> None:
        records = Records(settings, region, account_id)
        self.training = Training(settings, records, logs)
        self.hosting = Hosting(settings, records)
        self.registry = Registry(settings, records)
        self.transform = TransformJobs(settings, records, logs)
        self.operations: dict[str, Handler] = {}
        for part, names in (
            (self.training, ("CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob")),
            (self.hosting, ("CreateModel", "DescribeModel", "ListModels", "DeleteModel", "CreateEndpointConfig",
                            "DescribeEndpointConfig", "ListEndpointConfigs", "DeleteEndpointConfig", "CreateEndpoint",
                            "DescribeEndpoint", "ListEndpoints", "DeleteEndpoint", "UpdateEndpoint",
                            "UpdateEndpointWeightsAndCapacities")),
            (self.transform, ("CreateTransformJob", "DescribeTransformJob", "ListTransformJobs", "StopTransformJob")),
            (self.registry, ("CreateModelPackageGroup", "CreateModelPackage", "DescribeModelPackage",
                             "ListModelPackages", "UpdateModelPackage")),
        ):  # fmt: skip
            for name in names:
                self.operations[name] = getattr(part, _snake(name))

    async def handle(self, request: Request) -> Response:
        handler, body = await json_call(request, self.operations, "sagemaker")
        result = await asyncio.to_thread(handler, body)
        return Response(json.dumps(result, default=str).encode(), 200, media_type="application/x-amz-json-1.1")


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
