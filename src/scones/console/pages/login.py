"""Login and logout: a browser trades the token for a session cookie once."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from scones.console.auth import COOKIE, safe_next
from scones.console.forms import FormError, read_form
from scones.console.guard import session_value
from scones.console.render import render


async def login_page(request: Request) -> Response:
    token: str | None = request.app.state.auth_token
    if token is None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", title="Sign in", next=safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    token: str | None = request.app.state.auth_token
    if token is None:
        return RedirectResponse("/", status_code=303)
    try:
        form = await read_form(request)
    except FormError as exc:
        return render(request, "login.html", status_code=400, title="Sign in", error=str(exc), next="/")
    given = form.get("token", "") or ""
    target = safe_next(form.get("next"))
    if not hmac.compare_digest(given.encode(), token.encode()):
        return render(
            request, "login.html", status_code=401, title="Sign in", next=target,
            error="That token is not the console's; use the one in the URL 'scones console' printed "
            "(or its --auth-token, --auth-token-file or SCONES_AUTH_TOKEN).",
        )  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure, path="/")
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def routes() -> list[Route]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
