"""The review loop: each iteration (trigger, decision, candidate vs current) and the dataset versions it made."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import settings
from scones.console.render import render


def loop_page(request: Request) -> Response:
    from contextlib import closing

    from scones.loop import table

    resolved = settings(request)
    found = table.iterations(resolved, limit=100)
    with closing(table.connect(resolved)) as conn:
        versions = [dict(r) for r in conn.execute("SELECT * FROM loop_datasets ORDER BY created DESC LIMIT 100")]
    return render(request, "loop.html", title="Review loop", section="loop", iterations=found, versions=versions)


def routes() -> list[Route]:
    return [Route("/loop", loop_page)]
