"""Optional token auth, as on the endpoint: `Authorization: Bearer TOKEN`, or a login form
that sets a cookie so a browser can use the console too.

The cookie holds an HMAC of the token, not the token; every comparison is constant-time.
Forms that change something also carry a per-process CSRF token (see `check_csrf`).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "scones_console"
OPEN_PATHS = ("/login", "/static/", "/healthz")


def session_value(token: str) -> str:
    """What the cookie stores: derived from the token, useless for calling endpoints."""
    return hmac.new(token.encode(), b"scones-console-session", hashlib.sha256).hexdigest()


def authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


class TokenAuth:
    """ASGI middleware: every path except the login page and static files needs the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if authorised(request, self.token):
            await self.app(scope, receive, send)
            return
        response: Response
        if "text/html" in request.headers.get("accept", "") and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            response = JSONResponse(
                {"error": "Unauthorized", "message": "Missing or wrong bearer token; send Authorization: Bearer TOKEN"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


def check_csrf(request: Request, given: str | None) -> bool:
    """A POST form is ours only if it carries this process's CSRF token."""
    expected: str = request.app.state.csrf
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


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
