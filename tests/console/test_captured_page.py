"""The captured-data page: filters from the query string and paging past a capped count."""

from __future__ import annotations

import pytest

from scones.config import Settings
from scones.console import create_app
from scones.console.pages import captured as page
from scones.storage import Store
from tests.console._client import LOCAL, TestClient
from tests.console.sources.test_capture_index import PREFIX, line


def test_a_capped_count_still_pages_to_the_end(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page, "COUNT_CAP", 50)
    store.put(settings.bucket, f"{PREFIX}/10/00-00-000-a.jsonl", b"".join(line(0.99, i) for i in range(60)))
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as client:
        first = client.get("/captured").text
        assert "1–48 of 50+" in first and "Page 1</span>" in first and 'rel="next"' in first
        second = client.get("/captured?page=2").text
        assert "49–60 of 60" in second and 'rel="next"' not in second
        assert second.count('src="/captured/') == 12


def test_junk_query_values_are_ignored(settings: Settings, store: Store) -> None:
    store.put(settings.bucket, f"{PREFIX}/10/00-00-000-b.jsonl", line(0.99, 1) + line(0.2, 2))
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as client:
        for query in ("page=-3", "page=abc", "class=<script>", "since=yesterday", "endpoint=%00", "low=maybe"):
            response = client.get(f"/captured?{query}")
            assert response.status_code == 200, query
            assert "<script>" not in response.text
        assert client.get("/captured?class=motorcycle").text.count('src="/captured/') == 1


def _record(probabilities: list[float], image: bytes, content_type: str, second: int) -> bytes:
    import base64
    import json

    record = {
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT",
                              "data": base64.b64encode(image).decode(), "encoding": "BASE64"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": json.dumps(probabilities), "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": f"e-{second}", "inferenceTime": f"2026-01-02T10:00:{second:02d}Z"},
        "eventVersion": "0",
    }  # fmt: skip
    return json.dumps(record).encode() + b"\n"


def test_any_image_size_and_each_endpoints_own_class_names(settings: Settings, store: Store) -> None:
    """A 3-class photo endpoint beside the seed's 2-class one: each record is named by its own model's classes."""
    from tests.data.photos import cifar_rows, jpeg
    from tests.helpers import png_bytes, register_endpoint

    register_endpoint(settings, "photos", "http://127.0.0.1:1", config={"classes": ["cat", "dog", "elk"]})
    register_endpoint(settings, "my-endpoint", "http://127.0.0.1:2", config={"classes": ["bicycle", "motorcycle"]})
    photo = jpeg(cifar_rows(1)[0], (640, 480))
    store.put(settings.bucket, "data_capture/photos/AllTraffic/2026/01/02/10/00-00-000-p.jsonl",
              _record([0.1, 0.2, 0.7], photo, "image/jpeg", 1))  # fmt: skip
    store.put(settings.bucket, f"{PREFIX}/10/00-00-000-s.jsonl", _record([0.9, 0.1], png_bytes(), "image/png", 2))
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as client:
        listing = client.get("/captured").text
        assert "<strong>elk</strong>" in listing and "<strong>bicycle</strong>" in listing
        only = client.get("/captured?endpoint=photos&class=elk").text
        assert only.count('src="/captured/') == 1 and "<option selected>elk</option>" in only
        ids = {e: int(h.split('href="/captured/')[1].split('"')[0]) for e, h in
               (("photos", only), ("my-endpoint", client.get("/captured?endpoint=my-endpoint").text))}  # fmt: skip
        record = client.get(f"/captured/{ids['photos']}").text
        assert all(name in record for name in ("cat", "dog", "elk")) and "bicycle" not in record
        assert "motorcycle" in client.get(f"/captured/{ids['my-endpoint']}").text
        image = client.get(f"/captured/{ids['photos']}/image")
        assert image.headers["content-type"] == "image/jpeg" and image.content == photo
