"""Captured data: the endpoint's captured images with their predictions, filtered and paged."""

from __future__ import annotations

import re
from dataclasses import replace

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import paging, settings
from scones.console.render import render
from scones.console.sources import captured, endpoints
from scones.console.sources.capture_index import CaptureIndex
from scones.errors import StorageError

PER_PAGE = 48
COUNT_CAP = 10_000  # count exactly up to here; beyond it pages say "10,000+" (counting 100k rows costs)
PAGE_BUDGET_S = 0.05  # index at most this long per view; the background thread does the rest
SEED_CLASSES = ["bicycle", "motorcycle"]  # the staged data's labels: 0 = bicycle, 1 = motorcycle
_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$")
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/x-image"}


def _index(request: Request) -> CaptureIndex:
    index: CaptureIndex = request.app.state.capture_index
    return index


def classes_by_endpoint(request: Request) -> dict[str, list[str]]:
    """Each recorded endpoint's class names, from the model it serves (any number, any names)."""
    found: dict[str, list[str]] = {}
    for record in endpoints.endpoints(settings(request)):
        classes = (record.get("config") or {}).get("classes")
        if classes and record.get("name"):
            found[str(record["name"])] = [str(c) for c in classes]
    return found


def class_names(request: Request, endpoint: str = "", known: dict[str, list[str]] | None = None) -> list[str]:
    """The class names of `endpoint`'s model; else of any recorded endpoint; else the seed's two."""
    known = classes_by_endpoint(request) if known is None else known
    return known.get(endpoint) or next(iter(known.values()), SEED_CLASSES)


def _time(value: str) -> str:
    """A datetime-local value ('2026-01-02T10:15') as the index's UTC text; junk is ignored."""
    value = value.strip()
    return value if _MINUTE.match(value) else ""


def captured_page(request: Request) -> Response:
    index = _index(request)
    index.refresh(budget_s=PAGE_BUDGET_S)
    q = request.query_params
    by_endpoint = classes_by_endpoint(request)
    classes = class_names(request, q.get("endpoint", ""), by_endpoint)
    predicted = q.get("class", "")
    filters = captured.Filters(
        endpoint=q.get("endpoint", ""),
        predicted=classes.index(predicted) if predicted in classes else None,
        low_confidence=q.get("low") == "1",
        since=_time(q.get("since", "")),
        until=_time(q.get("until", "")),
    )
    threshold = settings(request).threshold
    total = captured.count(index, filters, threshold, cap=COUNT_CAP)
    p = paging(request, total, PER_PAGE, keep=("endpoint", "class", "low", "since", "until"), cap=COUNT_CAP)
    rows = captured.page(index, filters, threshold, p.per_page, p.offset)
    if p.more and len(rows) < p.per_page:  # walked past the last page of a capped count
        p = replace(p, more=False, total=p.offset + len(rows))
    return render(
        request, "captured.html", title="Captured data", section="captured", rows=rows, paging=p,
        filters=filters, classes=classes, by_endpoint=by_endpoint, selected_class=predicted, threshold=threshold,
        endpoints=captured.endpoints(index), summary=captured.summary(index, threshold),
        pending=bool(index.pending_files()),
    )  # fmt: skip


def captured_record(request: Request) -> Response:
    found = captured.record(_index(request), int(request.path_params["id"]))
    if found is None:
        raise HTTPException(404, "No such captured record")
    classes = class_names(request, str(found.get("endpoint") or ""))
    probabilities = found["probabilities"] or []
    rows = [(classes[i] if i < len(classes) else f"class {i}", p) for i, p in enumerate(probabilities)]
    return render(request, "captured_record.html", title=f"Captured record {found['id']}", section="captured",
                  record=found, rows=rows, threshold=settings(request).threshold)  # fmt: skip


def captured_image(request: Request) -> Response:
    try:
        found = captured.image(_index(request), int(request.path_params["id"]))
    except StorageError as exc:
        raise HTTPException(404, f"The captured file is gone: {exc}") from exc
    if found is None:
        raise HTTPException(404, "No such captured record")
    body, content_type = found
    media = content_type if content_type in IMAGE_TYPES else "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'"}  # fmt: skip
    return Response(body, media_type=media, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/captured", captured_page),
        Route("/captured/{id:int}", captured_record),
        Route("/captured/{id:int}/image", captured_image),
    ]
