"""Form bodies parsed with the standard library: urlencoded, multipart uploads, size limit."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scones.console.forms import MAX_BODY, FormError, read_form
from tests.console._client import TestClient
from tests.helpers import png_bytes


async def echo(request: Request) -> Response:
    try:
        form = await read_form(request)
    except FormError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    files = {k: [f.filename, f.content_type, len(f.data), f.data[:8].hex()] for k, f in form.files.items()}
    return JSONResponse({"fields": form.fields, "files": files})


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=[Route("/", echo, methods=["POST"])]))


def test_urlencoded_fields(client: TestClient) -> None:
    body = client.post("/", data={"input": '{"a": 1}', "type": "EXPRESS", "empty": ""}).json()
    assert body["fields"] == {"input": '{"a": 1}', "type": "EXPRESS", "empty": ""}


def test_multipart_upload_keeps_the_bytes_exactly(client: TestClient) -> None:
    image = png_bytes((10, 200, 30), size=48)
    body = client.post("/", data={"csrf": "t"}, files={"image": ("bike.png", image, "image/png")}).json()
    assert body["fields"] == {"csrf": "t"}
    assert body["files"]["image"] == ["bike.png", "image/png", len(image), image[:8].hex()]


def test_bodies_over_the_payload_limit_are_refused(client: TestClient) -> None:
    big = b"\0" * (MAX_BODY + 1)
    response = client.post("/", files={"image": ("big.png", big, "image/png")})
    assert response.status_code == 400
    assert "larger than 6 MB" in response.json()["error"]


def test_broken_multipart_is_a_clear_error(client: TestClient) -> None:
    response = client.post("/", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert response.status_code == 400
    assert "not valid multipart" in response.json()["error"]
