"""Training jobs: the list, and one job with its hyperparameters and accuracy chart."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console import svg
from scones.console.pages._common import db, paging, store
from scones.console.render import render
from scones.console.sources import training
from scones.errors import SconesError
from scones.keys import parse_s3_uri


def job_list(request: Request) -> Response:
    status = request.query_params.get("status", "")
    total = training.count(db(request), status)
    p = paging(request, total, keep=("status",))
    return render(
        request, "training_list.html", title="Training jobs", section="training",
        jobs=training.jobs(db(request), p.per_page, p.offset, status), paging=p, status=status,
        statuses=sorted(training.status_counts(db(request))),
    )  # fmt: skip


def job_detail(request: Request) -> Response:
    name = request.path_params["name"]
    record = training.job(db(request), name)
    if record is None:
        raise HTTPException(404, f"No training job {name}; see the list of training jobs")
    series = training.series(record)
    metrics = record["metrics"] if isinstance(record.get("metrics"), dict) else {}
    best = training.best_epoch(record)
    chart = svg.line_chart(
        series, f"Accuracy per epoch of {name}" + (f", kept epoch {best}" if best else ""), marker_x=best
    )
    return render(
        request, "training_detail.html", title=name, section="training", job=record, chart=chart,
        epochs=training.epochs(record), best=best, plot=_existing(request, training.plot_uri(db(request), record)),
        final={k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
    )  # fmt: skip


def _existing(request: Request, uri: str) -> str | None:
    bucket, key = parse_s3_uri(uri)
    try:
        return uri if store(request).exists(bucket, key) else None
    except SconesError:
        return None


def routes() -> list[Route]:
    return [Route("/training-jobs", job_list), Route("/training-jobs/{name}", job_detail)]
