"""HTML rendering: one Jinja2 environment (autoescaped) and the small filters pages share."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _shorten(value: Any) -> Any:
    """Long strings (base64 images) cut to a readable stub that still says how long they were."""
    if isinstance(value, str) and len(value) > 160:
        return f"{value[:48]}… ({len(value):,} characters)"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def _pretty_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(_shorten(value)) if len(value) > 2000 else value
    return json.dumps(_shorten(value), indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _error_message(cause: Any) -> str:
    """A Lambda error document's message ({"errorType", "errorMessage", ...}); other causes as given."""
    if isinstance(cause, str):
        try:
            document = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
            return str(document["errorMessage"])
    return str(cause)


def _percent(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value) * 100:.{digits}f}%"


def _number(value: Any, digits: int = 3) -> str:
    """Integers with thousands separators; floats with `digits` decimals (tiny ones in g format)."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.{digits}g}"
    return f"{value:,.{digits}f}"


def _when(value: Any) -> str:
    """ISO timestamps as 'YYYY-MM-DD HH:MM:SS' UTC (the Z dropped, the T a space)."""
    if not value:
        return "-"
    text = str(value).replace("T", " ").rstrip("Z")
    return text[:19]


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60)} s"


def _status_class(status: Any) -> str:
    """A CSS class per status family, so every page colours statuses the same way."""
    text = str(status or "").lower()
    if text in {"succeeded", "completed", "inservice", "healthy", "passed", "ok"}:
        return "ok"
    if text in {"failed", "timed_out", "timedout", "aborted", "completedwithviolations", "violations", "down"}:
        return "bad"
    if text in {"running", "inprogress", "creating", "updating", "deleting", "pending", "starting"}:
        return "busy"
    return "neutral"


def store_url(uri: Any) -> str | None:
    """The console URL that serves an `s3://bucket/key` object (None for anything else)."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        return None
    return "/store/" + uri[5:]


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)
env.filters.update(
    pretty_json=_pretty_json,
    percent=_percent,
    number=_number,
    when=_when,
    duration=_duration,
    status_class=_status_class,
    store_url=store_url,
    error_message=_error_message,
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the request, the nav and the CSRF token every page needs."""
    context.setdefault("title", "scones console")
    html = env.get_template(template).render(
        request=request,
        csrf=request.app.state.csrf,
        auth=request.app.state.auth_token is not None and request.url.path != "/login",
        nav_active=context.get("section", ""),
        now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
