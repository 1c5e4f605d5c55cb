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
