"""Endpoints: the list; one endpoint with its config, live figures, an upload form to
classify an image, and deletion behind a confirmation page."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from scones.console.auth import require_csrf
from scones.console.forms import FormError, read_form
from scones.console.pages._common import settings
from scones.console.render import render
from scones.console.sources import endpoints
from scones.console.sources.endpoint_metrics import Scraper
from scones.errors import SconesError


def _scraper(request: Request) -> Scraper:
    scraper: Scraper = request.app.state.scraper
    return scraper


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    """Counters as whole numbers, rates and latencies to two decimals."""
    return {
        k: (int(v) if k.endswith("_total") or k.startswith("capture_") else round(v, 2)) if isinstance(v, float) else v
        for k, v in figures.items()
    }


def endpoint_list(request: Request) -> Response:
    rows = endpoints.endpoints(settings(request))
    return render(request, "endpoints_list.html", title="Endpoints", section="endpoints", endpoints=rows)


def _found(request: Request) -> dict[str, Any]:
    name = request.path_params["name"]
    record = endpoints.endpoint(settings(request), name)
    if record is None:
        raise HTTPException(404, f"No endpoint named {name}; deploy one with 'scones deploy'")
    return record


def _detail(request: Request, record: dict[str, Any], status_code: int = 200, **extra: Any) -> Response:
    live = _scraper(request).figures(record["name"], record["url"]) if record["status"] == "InService" else {}
    events, workers_now = endpoints.scaling(
        settings(request), record["name"], record["pid"], int(record["config"].get("workers") or 1)
    )
    return render(
        request, "endpoint_detail.html", status_code=status_code, title=record["name"], section="endpoints",
        endpoint=record, live=_rounded(live), threshold=settings(request).threshold,
        deployments=endpoints.deployments(settings(request), record["name"]), scaling_events=events,
        workers_now=workers_now, **extra,
    )  # fmt: skip


def endpoint_detail(request: Request) -> Response:
    return _detail(request, _found(request))


def endpoint_live(request: Request) -> Response:
    record = _found(request)
    if record["status"] != "InService":
        return JSONResponse({"error": f"{record['name']} is {record['status']}"}, status_code=409)
    return JSONResponse(_rounded(_scraper(request).figures(record["name"], record["url"])))


async def endpoint_invoke(request: Request) -> Response:
    record = await run_in_threadpool(_found, request)
    try:
        form = await read_form(request)
        require_csrf(request, form.get("csrf"))
        upload = form.files.get("image")
        if upload is None or not upload.data:
            raise FormError("Choose an image file (PNG or JPEG) to classify")
        result = await run_in_threadpool(endpoints.invoke, settings(request), record["name"], upload.data,
                                         upload.filename)  # fmt: skip
    except (FormError, SconesError) as exc:
        return await run_in_threadpool(_detail, request, record, 400, invoke_error=str(exc))
    return await run_in_threadpool(_detail, request, record, 200, result=result, filename=upload.filename)


def endpoint_delete_confirm(request: Request) -> Response:
    record = _found(request)
    return render(request, "endpoint_delete.html", title=f"Delete {record['name']}?", section="endpoints",
                  endpoint=record)  # fmt: skip


async def endpoint_delete(request: Request) -> Response:
    record = await run_in_threadpool(_found, request)
    form = await read_form(request)
    require_csrf(request, form.get("csrf"))
    if form.get("confirm") != record["name"]:
        return render(request, "endpoint_delete.html", status_code=400, title=f"Delete {record['name']}?",
                      section="endpoints", endpoint=record,
                      error="Type the endpoint's name exactly to confirm.")  # fmt: skip
    await run_in_threadpool(endpoints.delete, settings(request), record["name"])
    return RedirectResponse(f"/endpoints?deleted={record['name']}", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/endpoints", endpoint_list),
        Route("/endpoints/{name}", endpoint_detail),
        Route("/endpoints/{name}/live.json", endpoint_live),
        Route("/endpoints/{name}/invoke", endpoint_invoke, methods=["POST"]),
        Route("/endpoints/{name}/delete", endpoint_delete_confirm, methods=["GET"]),
        Route("/endpoints/{name}/delete", endpoint_delete, methods=["POST"]),
    ]
