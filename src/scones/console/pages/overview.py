"""Overview: counts and health of everything, each tile linking to its page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import db, settings
from scones.console.render import render
from scones.console.sources import captured, endpoints, monitoring, training, workflow
from scones.console.sources.capture_index import CaptureIndex
from scones.console.sources.endpoint_metrics import Scraper

PING_TIMEOUT_S = 0.3


def _health(request: Request, record: dict[str, Any]) -> str:
    """healthy when /ping answers 200 now; the registry's status otherwise."""
    if record["status"] != "InService":
        return str(record["status"])
    scraper: Scraper = request.app.state.scraper
    return "healthy" if scraper.ping(record["url"], PING_TIMEOUT_S) else "down"


def overview(request: Request) -> Response:
    s = settings(request)
    database = db(request)
    index: CaptureIndex = request.app.state.capture_index
    index.refresh(budget_s=0.05)
    deployed = endpoints.endpoints(s)
    if len(deployed) > 1:  # ping them side by side, so one hung endpoint costs one timeout
        with ThreadPoolExecutor(max_workers=4) as pool:
            health = list(pool.map(lambda r: _health(request, r), deployed))
    else:
        health = [_health(request, r) for r in deployed]
    runs = monitoring.runs(database, 1, 0)
    context: dict[str, Any] = {
        "jobs": training.status_counts(database),
        "latest_job": next(iter(training.jobs(database, 1, 0)), None),
        "models": training.count(database, "Completed"),
        "endpoints": list(zip(deployed, health, strict=True)),
        "machines": len(workflow.machines(s)),
        "executions": workflow.status_counts(database),
        "captured": captured.summary(index, s.threshold),
        "monitoring": monitoring.status_counts(database),
        "last_run": runs[0] if runs else None,
        "threshold": s.threshold,
    }
    return render(request, "overview.html", title="Overview", section="overview", **context)


def routes() -> list[Route]:
    return [Route("/", overview)]
