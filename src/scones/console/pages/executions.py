"""State machines and executions: lists filterable by status; an execution's graph coloured
per state and its history with each step's input and output; starting an execution."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from scones.console import svg
from scones.console.auth import require_csrf
from scones.console.forms import FormError, read_form
from scones.console.pages._common import db, paging, settings, store
from scones.console.render import render
from scones.console.sources import workflow
from scones.errors import SconesError

RECENT = 10


def machine_list(request: Request) -> Response:
    rows = []
    for m in workflow.machines(settings(request)):
        rows.append({"machine": m, "counts": workflow.status_counts(db(request), m.name)})
    return render(request, "machines_list.html", title="State machines", section="workflow", machines=rows)


def _definition(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _example_input(request: Request) -> str:
    """A test case like the seed's generate_test_case: the first staged test image (looked up
    once a minute: listing a bucket on S3 costs more than rendering the page)."""
    cached: tuple[float, str] | None = getattr(request.app.state, "example_input", None)
    if cached is not None and time.monotonic() - cached[0] < 60:
        return cached[1]
    bucket = settings(request).bucket
    try:
        first = next(iter(store(request).list(bucket, "data/test/")), None)
    except SconesError:
        first = None
    key = first.key if first else "data/test/bicycle_s_000030.png"
    text = json.dumps({"image_data": "", "s3_bucket": bucket, "s3_key": key}, indent=2)
    request.app.state.example_input = (time.monotonic(), text)
    return text


def _machine_page(request: Request, name: str, status_code: int = 200, **extra: Any) -> Response:
    machine = workflow.machine(settings(request), name)
    if machine is None:
        raise HTTPException(404, f"No state machine {name}; create one with 'scones workflow create'")
    definition = _definition(machine.definition)
    graph = svg.state_graph(definition, None, f"The states of {name}")
    extra.setdefault("input_text", _example_input(request))
    return render(
        request, "machine_detail.html", status_code=status_code, title=name, section="workflow", machine=machine,
        graph=graph, definition=definition, counts=workflow.status_counts(db(request), name),
        recent=workflow.executions(db(request), RECENT, 0, machine_name=name), **extra,
    )  # fmt: skip


def machine_detail(request: Request) -> Response:
    return _machine_page(request, request.path_params["name"])


async def start_execution(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        form = await read_form(request)
    except FormError as exc:
        return await run_in_threadpool(_machine_page, request, name, 400, start_error=str(exc))
    require_csrf(request, form.get("csrf"))
    text = form.get("input", "") or ""
    try:
        try:
            execution_input = json.loads(text)
        except ValueError as exc:
            raise FormError(f"The input is not valid JSON ({exc}); fix it and start again") from exc
        type_ = form.get("type", "STANDARD") or "STANDARD"
        record = await run_in_threadpool(workflow.start, settings(request), name, execution_input, type_)
    except (FormError, SconesError) as exc:
        return await run_in_threadpool(_machine_page, request, name, 400, start_error=str(exc), input_text=text)
    return RedirectResponse(f"/executions/{record.arn}", status_code=303)


def execution_list(request: Request) -> Response:
    status = request.query_params.get("status", "")
    status = status if status in workflow.STATUSES else ""
    machine_name = request.query_params.get("machine", "")
    total = workflow.count(db(request), status, machine_name)
    p = paging(request, total, keep=("status", "machine"))
    return render(
        request, "executions_list.html", title="Executions", section="executions", paging=p, status=status,
        machine_name=machine_name, statuses=workflow.STATUSES,
        machines=[m.name for m in workflow.machines(settings(request))],
        executions=workflow.executions(db(request), p.per_page, p.offset, status, machine_name),
    )  # fmt: skip


def execution_detail(request: Request) -> Response:
    arn = request.path_params["arn"]
    found = workflow.execution(db(request), arn)
    if found is None:
        raise HTTPException(404, f"No execution {arn}")
    record, events = found
    machine = workflow.machine(settings(request), record.state_machine)
    definition = _definition(machine.definition) if machine else {}
    outcomes = workflow.outcomes(events, record.status)
    graph = svg.state_graph(definition, outcomes, f"States of execution {record.name}: " + ", ".join(
        f"{k} {v.replace('_', ' ')}" for k, v in outcomes.items()))  # fmt: skip
    return render(
        request, "execution_detail.html", title=record.name, section="executions", execution=record,
        graph=graph, outcomes=outcomes, steps=workflow.steps(events), events=events,
        input=_json_or_text(record.input), output=_json_or_text(record.output),
    )  # fmt: skip


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def routes() -> list[Route]:
    return [
        Route("/state-machines", machine_list),
        Route("/state-machines/{name}", machine_detail),
        Route("/state-machines/{name}/start", start_execution, methods=["POST"]),
        Route("/executions", execution_list),
        Route("/executions/{arn:path}", execution_detail),
    ]
