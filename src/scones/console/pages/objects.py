"""Objects from the store (plots, report pictures) served safely to the pages that show them.

Pictures are served inline; anything else downloads as an attachment, and every response
forbids scripts, so an object written by someone else cannot run in the console's origin.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scones.console.pages._common import store
from scones.errors import ObjectNotFound, StorageError

INLINE = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
LOCKED = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def store_object(request: Request) -> Response:
    bucket, key = request.path_params["bucket"], request.path_params["key"]
    try:
        data = store(request).get(bucket, key)
    except ObjectNotFound as exc:
        raise HTTPException(404, f"No object at s3://{bucket}/{key}") from exc
    except StorageError as exc:
        raise HTTPException(400, str(exc)) from exc
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
    headers = dict(LOCKED, **{"Cache-Control": "private, max-age=60"})
    if suffix in INLINE:
        return Response(data, media_type=INLINE[suffix], headers=headers)
    name = key.rsplit("/", 1)[-1].replace('"', "")
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(data, media_type="application/octet-stream", headers=headers)


def routes() -> list[Route]:
    return [Route("/store/{bucket}/{key:path}", store_object)]
