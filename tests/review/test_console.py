"""The reviewer's console routes: the page, the JSON queue, images, and label/skip/undo with CSRF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scones.config import Settings
from scones.console import create_app
from scones.review import queue
from scones.storage import Store
from tests.console._client import LOCAL, TestClient
from tests.review.support import capture, register

TOKEN = "review-token"


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    register(settings)
    capture(store, [0.5, 0.6, 0.7], inference_ids=["a", "b", "c"])
    app = create_app(settings, TOKEN, background_index=False)
    with TestClient(app, base_url=LOCAL) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


def _csrf(client: TestClient) -> str:
    return str(client.app.state.csrf)  # type: ignore[attr-defined]


def test_the_page_refreshes_the_queue_and_the_json_lists_it(client: TestClient, settings: Settings) -> None:
    page = client.get("/review/ep")
    assert page.status_code == 200 and 'id="review"' in page.text and "/static/review.js" in page.text
    assert "3 pending" in page.text and "<kbd>1</kbd> bicycle" in page.text and "<kbd>2</kbd> motorcycle" in page.text
    body = client.get("/review/ep/items.json").json()
    assert [i["id"] for i in body["items"]] == ["a", "b", "c"] and body["counts"]["pending"] == 3
    assert body["items"][0]["predicted_class"] == "bicycle" and body["items"][0]["image"] == "/review/ep/image?id=a"
    assert [i["id"] for i in client.get("/review/ep/items.json?after=a&limit=1").json()["items"]] == ["b"]
    assert [i["id"] for i in client.get("/review/ep/items.json?after=c").json()["items"]] == []
    image = client.get("/review/ep/image?id=a")
    assert image.headers["content-type"] == "image/png" and image.content == queue.image(settings, "ep", "a")[0]
    assert "ep" in client.get("/review").text


def test_label_skip_undo_over_json(client: TestClient, settings: Settings) -> None:
    queue.refresh(settings, "ep")
    csrf = _csrf(client)
    done = client.post("/review/ep/label", json={"csrf": csrf, "id": "a", "label": 1, "reviewer": "ann"})
    assert done.status_code == 200, done.text
    assert done.json()["counts"] == {"pending": 2, "labelled": 1, "skipped": 0}
    assert client.post("/review/ep/skip", json={"csrf": csrf, "id": "b"}).status_code == 200
    assert queue.item(settings, "ep", "b").status == "skipped" and queue.item(settings, "ep", "b").reviewer == "console"
    client.post("/review/ep/label", json={"csrf": csrf, "id": "a", "label": "bicycle", "reviewer": "bob"})
    history = client.get("/review/ep/reviewed").text
    assert "ann: motorcycle" in history and "bob: bicycle" in history
    undone = client.post("/review/ep/undo", json={"csrf": csrf, "id": "a"}).json()
    assert undone["item"]["label_class"] == "motorcycle" and undone["item"]["history"][-1]["undone"]


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        ({"id": "a", "label": 1}, 403, "reload the page"),
        ({"csrf": "forged", "id": "a", "label": 1}, 403, "reload the page"),
        ({"csrf": None, "id": "zzz", "label": 1}, 400, "Unknown item id 'zzz'"),
        ({"csrf": None, "id": "a", "label": 7}, 400, "Unknown class 7"),
        ({"csrf": None, "id": "a", "label": [1]}, 400, "Give the label as a class index or name"),
    ],
)
def test_bad_posts_change_nothing(
    client: TestClient, settings: Settings, body: dict[str, object], status: int, phrase: str
) -> None:
    queue.refresh(settings, "ep")
    if "csrf" in body and body["csrf"] is None:
        body = {**body, "csrf": _csrf(client)}
    answer = client.post("/review/ep/label", json=body)
    assert answer.status_code == status and phrase in answer.json()["message"]
    assert queue.history(settings, "ep") == [] and queue.counts(settings, "ep")["labelled"] == 0


def test_not_json_unknown_action_and_unknown_endpoint(client: TestClient, settings: Settings) -> None:
    queue.refresh(settings, "ep")
    assert client.post("/review/ep/label", content=b"[1]").status_code == 400
    assert client.post("/review/ep/erase", json={"csrf": _csrf(client), "id": "a"}).status_code == 404
    assert client.get("/review/nope").status_code == 404
    assert client.get("/review/ep/image?id=nope").status_code == 404
