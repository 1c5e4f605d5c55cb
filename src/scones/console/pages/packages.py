"""The model registry: model packages by group and version, their evaluation and approval status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import settings
from scones.console.render import render


def model_packages(request: Request) -> Response:
    from scones.model.packages import list_packages

    found = [p.to_dict() for p in list_packages(settings(request))]
    return render(request, "model_packages.html", title="Model registry", section="models", packages=found)


def routes() -> list[Route]:
    return [Route("/model-packages", model_packages)]
