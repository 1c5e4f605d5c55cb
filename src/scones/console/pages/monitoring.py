"""Monitoring: the runs, and one run's violations and report pictures."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import db, paging, store
from scones.console.render import render
from scones.console.sources import monitoring

STATUSES = ("InProgress", "Completed", "CompletedWithViolations", "Failed")


def run_list(request: Request) -> Response:
    status = request.query_params.get("status", "")
    status = status if status in STATUSES else ""
    total = monitoring.count(db(request), status)
    p = paging(request, total, keep=("status",))
    return render(
        request, "monitoring_list.html", title="Monitoring", section="monitoring", paging=p, status=status,
        statuses=STATUSES, runs=monitoring.runs(db(request), p.per_page, p.offset, status),
        counts=monitoring.status_counts(db(request)),
    )  # fmt: skip


def run_detail(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    record = monitoring.run(db(request), run_id)
    if record is None:
        raise HTTPException(404, f"No monitoring run {run_id}")
    return render(request, "monitoring_detail.html", title=f"Monitoring run {run_id}", section="monitoring",
                  run=record, files=monitoring.files(store(request), record.get("output")))  # fmt: skip


def routes() -> list[Route]:
    return [Route("/monitoring", run_list), Route("/monitoring/{run_id}", run_detail)]
