"""Form bodies without extra dependencies: urlencoded fields and one-file multipart uploads.

Starlette's own form parser needs python-multipart; the console's forms are small and few,
so the standard library (urllib, email) parses them, with a size limit checked first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qs

from starlette.requests import Request

MAX_BODY = 6 * 1024 * 1024 + 64 * 1024  # an endpoint payload (6 MB) plus the form's own overhead


class FormError(ValueError):
    """A form body the console cannot use (too big, malformed); the message says why."""


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.fields.get(name, default)


async def read_form(request: Request) -> Form:
    """Parse the request body as a form (urlencoded or multipart)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise FormError("The upload is larger than 6 MB, the endpoint payload limit; choose a smaller image")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise FormError("The upload is larger than 6 MB, the endpoint payload limit; choose a smaller image")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return _multipart(body, content_type)
    values = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return Form(fields={k: v[-1] for k, v in values.items()})


def _multipart(body: bytes, content_type: str) -> Form:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise FormError("The form body is not valid multipart data; submit the form from the console page")
    form = Form()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files[name] = Upload(filename, part.get_content_type(), data)
        else:
            form.fields[name] = data.decode("utf-8", errors="replace")
    return form
