"""Who may talk to a local web server: a Host allow-list, then a token (Jupyter's model).

A server on 127.0.0.1 is reachable by every local process, and by any web page the user
opens once that page's DNS name is rebound to 127.0.0.1. So `Guard`:

- answers 403 to a request whose Host header is not one of the allowed names (localhost,
  127.0.0.1, [::1], the configured host): a rebound page arrives with its own name;
- when it has a token, lets a request through only with `Authorization: Bearer TOKEN`, the
  session cookie, or `?token=TOKEN` on a GET, which sets the cookie (HttpOnly,
  SameSite=Strict) and redirects to the same URL without the token.

Plain ASGI, so any Starlette app can wrap itself in it (the console does; so can the local
AWS server). The cookie holds an HMAC of the token, not the token; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (names compared against, not bound)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): only this machine reaches them."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a server bound to `host` answers: loopback names, `host` itself, `extra`."""
    names = set(LOOPBACK_NAMES) | {name.strip("[]").lower() for name in extra if name}
    if host not in WILDCARD_HOSTS:
        names.add(host.strip("[]").lower())
    return frozenset(names)


def host_name(header: str) -> str:
    """The name in a Host header, without the port: 'Example:80' -> 'example', '[::1]:80' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else ""
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header  # a bare name, or an IPv6 address without brackets (not a valid Host, never allowed)


def session_value(token: str) -> str:
    """What the cookie stores: derived from the token, useless for calling endpoints."""
    return hmac.new(token.encode(), b"scones-console-session", hashlib.sha256).hexdigest()


def authorised(request: HTTPConnection, token: str, cookie: str) -> bool:
    """A bearer header or the session cookie that matches `token`."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    return hmac.compare_digest(request.cookies.get(cookie, "").encode(), session_value(token).encode())


class Guard:
    """ASGI middleware: the Host allow-list for every request, then the token (when set).

    `open_paths` (prefixes) need no token but still a good Host; `login_path` is where a
    browser without the token is sent (None: 401 for everyone).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        hosts: frozenset[str],
        cookie: str = "scones_session",
        open_paths: tuple[str, ...] = (),
        login_path: str | None = None,
        host_suffixes: tuple[str, ...] = (),
        refuse_cross_origin: bool = False,
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        # `.localhost` names always resolve to this machine (RFC 6761): virtual-host S3 uses them
        self.host_suffixes = host_suffixes
        self.refuse_cross_origin = refuse_cross_origin
        self.cookie = cookie
        self.open_paths = open_paths
        self.login_path = login_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        response = self._refusal(HTTPConnection(scope), scope.get("method", "GET"))
        if response is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":  # refused before the handshake: close with "policy violation"
            await send({"type": "websocket.close", "code": 1008})
        else:
            await response(scope, receive, send)

    def _refusal(self, request: HTTPConnection, method: str) -> Response | None:
        """None when the request may pass; else the answer it gets instead."""
        name = host_name(request.headers.get("host", ""))
        if name not in self.hosts and not (self.host_suffixes and name.endswith(self.host_suffixes)):
            return PlainTextResponse(
                f"Host {name!r} is not allowed here (a page from another site?); open this server as "
                "http://127.0.0.1 or start it with --allow-host NAME",
                status_code=403,
            )
        origin = request.headers.get("origin")
        if self.refuse_cross_origin and origin is not None and host_name(origin.partition("://")[2]) not in self.hosts:
            # SDKs and CLIs send no Origin; a browser does on every cross-site POST, even a "simple" form
            # one that needs no preflight, so a page elsewhere cannot fire requests at this server blind.
            return PlainTextResponse(
                f"Requests from web pages of {origin!r} are refused; call this server from an SDK or the CLI",
                status_code=403,
            )
        if self.token is None or request.url.path.startswith(self.open_paths):
            return None
        given = request.query_params.get("token")
        if given is not None and method == "GET" and hmac.compare_digest(given.encode(), self.token.encode()):
            return self._sign_in(request, self.token)
        if authorised(request, self.token, self.cookie):
            return None
        if self.login_path and method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{self.login_path}?next={quote(target)}", status_code=303)
        return JSONResponse(
            {"error": "Unauthorized", "message": "Missing or wrong token; open the URL with ?token= that the "
             "server printed, or send Authorization: Bearer TOKEN"},
            status_code=401, headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip

    def _sign_in(self, request: HTTPConnection, token: str) -> Response:
        """The first visit with ?token=: set the cookie, and drop the token from the address bar."""
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(
            self.cookie, session_value(token), httponly=True, samesite="strict", secure=secure, path="/"
        )
        return response
