"""The app's frame: token auth (header, sign-in cookie), CSRF on actions, error pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scones.config import Settings
from scones.console import create_app
from scones.console.auth import COOKIE, safe_next
from scones.console.guard import session_value
from tests.console._client import LOCAL, TestClient

PAGES = ["/", "/training-jobs", "/models", "/endpoints", "/state-machines", "/executions", "/captured", "/monitoring"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, "s3cret", background_index=False), base_url=LOCAL) as c:
        yield c


def test_every_page_renders_on_an_empty_home(settings: Settings) -> None:
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as c:
        for path in PAGES:
            response = c.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert "<h1>" in response.text
        assert "No training jobs yet" in c.get("/training-jobs").text


def test_without_the_token_browsers_are_sent_to_sign_in_and_clients_get_401(client: TestClient) -> None:
    page = client.get("/executions?status=FAILED", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/executions%3Fstatus%3DFAILED"
    api = client.get("/endpoints/x/live.json", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/healthz").status_code == 200  # liveness and static files stay open
    assert client.get("/static/console.css").status_code == 200


def test_the_bearer_token_opens_every_page(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path, headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 200, path
        assert response.headers["x-frame-options"] == "DENY"  # the delete form cannot be framed
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_signing_in_sets_a_cookie_derived_from_the_token(client: TestClient) -> None:
    wrong = client.post("/login", data={"token": "nope", "next": "/models"})
    assert wrong.status_code == 401
    assert "not the console" in wrong.text
    right = client.post("/login", data={"token": "s3cret", "next": "/models"}, follow_redirects=False)
    assert right.status_code == 303
    assert right.headers["location"] == "/models"
    cookie = right.cookies[COOKIE]
    assert cookie == session_value("s3cret") and "s3cret" not in cookie
    assert (
        "httponly" in right.headers["set-cookie"].lower() and "samesite=strict" in right.headers["set-cookie"].lower()
    )
    assert client.get("/models").status_code == 200  # the client kept the cookie
    client.post("/logout")
    assert client.get("/models", headers={"Accept": "text/html"}, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/captured?low=1", "/captured?low=1"), ("https://evil.example/", "/"), ("//evil.example", "/"), (None, "/"),
     ("/\\evil", "/")],
)  # fmt: skip
def test_sign_in_only_redirects_within_the_console(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_unknown_things_get_a_404_page(client: TestClient) -> None:
    headers = {"Authorization": "Bearer s3cret"}
    for path in ("/no-such-page", "/training-jobs/nope", "/endpoints/nope", "/executions/arn:nope", "/monitoring/x",
                 "/state-machines/nope", "/captured/99/image", "/store/scones/missing.png"):  # fmt: skip
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert "<h1>404</h1>" in response.text, path
