"""Review: people label the answers in an endpoint's review queue (scones.review.queue).

The reviewer page loads once; from then on its script (static/review.js) talks JSON to the
routes below: it fetches a batch of pending items, prefetches their images, and posts each
label, skip or undo in the background, so a person at a keyboard is never waiting for a page.
The POSTs carry this process's CSRF token like the console's forms; the Guard in front checks
the session as for every page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scones.console.auth import check_csrf
from scones.console.pages._common import int_param, settings, store
from scones.console.pages.captured import IMAGE_TYPES
from scones.console.render import render
from scones.console.sources import endpoints
from scones.review import queue
from scones.review.errors import ReviewError

BATCH = 100  # pending items per fetch; the script asks for more as it nears the end
MAX_BODY = 16 * 1024  # a label, skip or undo is a few dozen bytes


def _queue(request: Request) -> queue.Queue:
    name = request.path_params["name"]
    try:
        return queue.queue(settings(request), name)
    except ReviewError as exc:
        raise HTTPException(404, str(exc)) from exc


def _refresh(request: Request, name: str) -> None:
    """Read new captures into the queue (sampling shares from SCONES_SAMPLE_* or the defaults)."""
    queue.update(settings(request), name, store=store(request))


def review_list(request: Request) -> Response:
    known = queue.queues(settings(request))
    names = sorted({str(e["name"]) for e in endpoints.endpoints(settings(request))} | set(known))
    rows = [(name, known.get(name)) for name in names]
    return render(request, "review_list.html", title="Review", section="review", rows=rows)


def review_page(request: Request) -> Response:
    info = _queue(request)
    _refresh(request, info.endpoint)
    counts = queue.counts(settings(request), info.endpoint)
    keys = [_key(i) for i in range(len(info.classes))]
    return render(
        request, "review.html", title=f"Review {info.endpoint}", section="review", name=info.endpoint,
        classes=list(zip(keys, info.classes, strict=True)), classes_json=json.dumps(info.classes),
        keys_json=json.dumps(keys), counts=counts, threshold=settings(request).threshold,
    )  # fmt: skip


def review_history(request: Request) -> Response:
    """Every reviewed item with each label and skip it was given: disagreements stay visible."""
    info = _queue(request)
    found = [i for i in queue.items(settings(request), info.endpoint) if i.status != "pending"]
    actions: dict[str, list[queue.Action]] = {}
    for action in queue.history(settings(request), info.endpoint):
        actions.setdefault(action.item_id, []).append(action)
    rows = [(i, actions.get(i.id, [])) for i in reversed(found)]
    return render(
        request, "review_history.html", title=f"Reviewed items of {info.endpoint}", section="review",
        name=info.endpoint, rows=rows, classes=info.classes,
    )  # fmt: skip


def _key(index: int) -> str:
    """The key for class `index`: 1-9, then letters (s and u are skip and undo)."""
    letters = "abcdefghijklmnopqrtvwxyz"
    return str(index + 1) if index < 9 else letters[index - 9] if index - 9 < len(letters) else ""


def _item_json(request: Request, info: queue.Queue, item: queue.Item) -> dict[str, Any]:
    history = [a.as_dict() for a in queue.history(settings(request), info.endpoint, item.id)]
    image = f"/review/{quote(info.endpoint)}/image?id={quote(item.id, safe='')}"
    return {**item.as_dict(info.classes), "history": history, "image": image}


def items_json(request: Request) -> Response:
    info = _queue(request)
    if request.query_params.get("refresh") == "1":
        _refresh(request, info.endpoint)
    limit = int_param(request, "limit", BATCH, 1, 1000)
    after = request.query_params.get("after") or None  # the last item the page holds: the next page
    pending = queue.items(settings(request), info.endpoint, "pending", after, limit)
    return JSONResponse(
        {
            "classes": info.classes,
            "counts": queue.counts(settings(request), info.endpoint),
            "items": [_item_json(request, info, i) for i in pending],
        }
    )


def image(request: Request) -> Response:
    info = _queue(request)
    try:
        body, content_type = queue.image(settings(request), info.endpoint, request.query_params.get("id", ""))
    except ReviewError as exc:
        raise HTTPException(404, str(exc)) from exc
    media = content_type if content_type in IMAGE_TYPES else "application/octet-stream"
    # Cacheable: the script prefetches the next images, and an item's image never changes.
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'"}  # fmt: skip
    return Response(body, media_type=media, headers=headers)


async def act(request: Request) -> Response:
    """POST {csrf, id, label?, reviewer?} to .../label, .../skip or .../undo; answers the item and counts."""
    info = await run_in_threadpool(_queue, request)
    what = request.path_params["action"]
    if what not in ("label", "skip", "undo"):
        return _error(404, f"No action {what!r}; POST to label, skip or undo")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(413, "The request is too large; send {csrf, id, label}")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(400, "The request is not a JSON object; send {csrf, id, label}")
    if not check_csrf(request, body.get("csrf") if isinstance(body.get("csrf"), str) else None):
        return _error(403, "The page has expired or came from another site; reload the page and try again")
    item_id, reviewer = str(body.get("id", "")), body.get("reviewer")
    reviewer = str(reviewer)[:100].strip() or None if reviewer is not None else None
    try:
        done = await run_in_threadpool(_apply, request, info, what, item_id, body.get("label"), reviewer)
    except ReviewError as exc:
        return _error(400, str(exc))
    return JSONResponse(done)


def _apply(
    request: Request, info: queue.Queue, what: str, item_id: str, label: Any, reviewer: str | None
) -> dict[str, Any]:
    resolved = settings(request)
    if what == "label":
        if not isinstance(label, int | str) or isinstance(label, bool):
            raise ReviewError(f"Give the label as a class index or name: {', '.join(info.classes)}")
        queue.label(resolved, info.endpoint, item_id, label, reviewer or "console")
    elif what == "skip":
        queue.skip(resolved, info.endpoint, item_id, reviewer or "console")
    else:
        queue.undo(resolved, info.endpoint, item_id, store(request))
    item = queue.item(resolved, info.endpoint, item_id)
    return {"item": _item_json(request, info, item), "counts": queue.counts(resolved, info.endpoint)}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": status, "message": message}, status_code=status)


def routes() -> list[Route]:
    return [
        Route("/review", review_list),
        Route("/review/{name}", review_page),
        Route("/review/{name}/reviewed", review_history),
        Route("/review/{name}/items.json", items_json),
        Route("/review/{name}/image", image),
        Route("/review/{name}/{action:str}", act, methods=["POST"]),
    ]
