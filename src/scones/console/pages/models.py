"""Models: the artifacts of completed training jobs, and the endpoints serving each one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import db, settings
from scones.console.render import render
from scones.console.sources import endpoints, training

MAX_MODELS = 200  # completed jobs are few; a cap keeps the page bounded anyway


def models(request: Request) -> Response:
    deployed = endpoints.endpoints(settings(request))
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for job in training.completed(db(request), MAX_MODELS):
        uri = job.get("artifact_uri")
        serving = [e for e in deployed if e["model"] == uri or (e["config"] or {}).get("training_job") == job["name"]]
        rows.append({"job": job, "uri": uri, "serving": serving})
        seen.update(e["name"] for e in serving)
    # Endpoints may serve artifacts that no recorded job made (copied in, or from another home).
    others = [e for e in deployed if e["name"] not in seen]
    return render(request, "models.html", title="Models", section="models", models=rows, others=others)


def routes() -> list[Route]:
    return [Route("/models", models)]
