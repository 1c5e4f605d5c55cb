"""The console's Starlette app: routes of every page, static files, auth and error pages.

Pages live in `console/pages/` (one module per concept, each with a `routes()` list), read
the stages through their Python APIs or tables (`console/sources/`), and render Jinja2
templates from `console/templates/`. The app writes only on explicit POSTs (invoke an
endpoint, start an execution, delete an endpoint after confirmation).
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from scones.config import Settings
from scones.console.auth import COOKIE, OPEN_PATHS, SecurityHeaders
from scones.console.background import Refresher
from scones.console.db import Database
from scones.console.guard import Guard, allowed_hosts, is_loopback
from scones.console.pages import (
    captured,
    endpoints,
    executions,
    login,
    loop,
    models,
    monitoring,
    objects,
    overview,
    packages,
    review,
    training,
)
from scones.console.render import STATIC, render
from scones.console.sources import express_log
from scones.console.sources.capture_index import CaptureIndex
from scones.console.sources.endpoint_metrics import Scraper
from scones.errors import ConfigError, SconesError
from scones.review import queue as review_queue
from scones.storage import Store

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    auth_token: str | None,
    *,
    host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
    background_index: bool = True,
) -> Starlette:
    """The console over `settings`' home and store; `auth_token` None means no auth (say so).

    Requests must name the console as localhost, 127.0.0.1, [::1], `host` or one of
    `allow_hosts` in their Host header (`console/guard.py`). `background_index` keeps the
    captured-data index fresh from a thread while serving; pages also index a little on
    each view, so tests can switch the thread off.
    """
    db = Database(settings)
    store = Store(settings)
    index = CaptureIndex(settings, store)

    refresher = Refresher(
        [
            lambda: index.refresh(budget_s=1.0, wait=True),
            lambda: express_log.refresh_all(db),
            lambda: review_queue.refresh_all(settings, store),  # new captures reach reviewers without a reload
        ]
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if background_index:
            refresher.start()
        try:
            yield
        finally:
            refresher.stop()
            app.state.scraper.close()

    routes = [
        Route("/healthz", _healthz),
        *login.routes(),
        *overview.routes(),
        *training.routes(),
        *models.routes(),
        *packages.routes(),
        *endpoints.routes(),
        *executions.routes(),
        *captured.routes(),
        *monitoring.routes(),
        *review.routes(),
        *loop.routes(),
        *objects.routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                Guard,
                token=auth_token,
                hosts=allowed_hosts(host, allow_hosts),
                cookie=COOKIE,
                open_paths=OPEN_PATHS,
                login_path="/login",
            ),  # fmt: skip
        ],
        exception_handlers={HTTPException: _http_error, SconesError: _scones_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.store = store
    app.state.capture_index = index
    app.state.auth_token = auth_token
    app.state.scraper = Scraper(settings.auth_token)
    app.state.csrf = secrets.token_urlsafe(32)  # per process: forms from elsewhere cannot POST
    return app


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
    return render(request, "error.html", status_code=status, title=f"{status}", status=status, message=detail)


async def _scones_error(request: Request, exc: Exception) -> Response:
    logger.warning("console: %s", exc)
    return render(request, "error.html", status_code=500, title="Error", status=500, message=str(exc))


def access_token(settings: Settings, host: str, no_auth: bool = False) -> str | None:
    """The token the console will ask for: the configured one, else a fresh one; None with `no_auth`.

    Without a token any local process (or a page rebinding its DNS name to 127.0.0.1) could read
    every bucket and delete endpoints, so no-auth is an explicit choice, and only on loopback.
    """
    if no_auth and settings.auth_token:
        raise ConfigError("--no-auth and a token (--auth-token or SCONES_AUTH_TOKEN) contradict; give one of them")
    if no_auth and not is_loopback(host):
        raise ConfigError(
            f"--no-auth is refused with --host {host}: anyone who can reach it could read every bucket "
            "and delete endpoints; drop --no-auth or listen on 127.0.0.1"
        )
    if no_auth:
        return None
    return settings.auth_token or secrets.token_urlsafe(24)


def serve(
    settings: Settings, token: str | None, host: str = "127.0.0.1", port: int = 8000, allow_hosts: Iterable[str] = ()
) -> None:
    """Serve the console in the foreground until Ctrl-C, asking for `token` (see `access_token`)."""
    import uvicorn

    _check_port(host, port)
    app = create_app(settings, token, host=host, allow_hosts=allow_hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_port(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken, before anything starts."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
            probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from exc
