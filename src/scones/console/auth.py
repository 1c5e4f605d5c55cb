"""The console's side of access: its cookie name, CSRF on forms, safe redirects, page headers.

Who may reach the console at all (Host allow-list, token, cookie) is `console/guard.py`.
Forms that change something also carry a per-process CSRF token (see `require_csrf`).
"""

from __future__ import annotations

import hmac

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "scones_console"
OPEN_PATHS = ("/login", "/static/", "/healthz")


def check_csrf(request: Request, given: str | None) -> bool:
    """A POST form is ours only if it carries this process's CSRF token."""
    expected: str = request.app.state.csrf
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_csrf(request: Request, given: str | None) -> None:
    """403 (and nothing changed) unless the form carries this process's CSRF token."""
    if not check_csrf(request, given):
        raise HTTPException(403, "The form has expired or came from another page; reload the page and try again")


def safe_next(target: str | None) -> str:
    """Only redirect within the console after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


PAGE_HEADERS = {
    # Scripts, styles and pictures only from the console itself; no framing (the delete form).
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in PAGE_HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
