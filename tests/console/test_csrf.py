"""CSRF on every route that changes something: a form without this process's token, or with a
wrong one, gets 403 and changes nothing, against objects that exist (conftest's real pipeline).

Each case sends exactly what a valid form sends (the confirmation typed, a real image, valid
input) except the CSRF field, so removing the check makes the action happen and the test fail.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from scones.console import create_app
from scones.endpoint import registry
from tests.console._client import LOCAL, TestClient
from tests.console.conftest import COLOURS, Pipeline
from tests.helpers import png_bytes

FORGERIES = {"missing": None, "wrong": "forged-token"}


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.settings, pipeline.token, background_index=False), base_url=LOCAL) as c:
        c.headers["Authorization"] = f"Bearer {pipeline.token}"
        yield c


def _form(csrf: str | None, **fields: str) -> dict[str, str]:
    return {**fields, **({"csrf": csrf} if csrf is not None else {})}


def _invocations(pipeline: Pipeline) -> float:
    """The endpoint's count of answered invocations, from its own /metrics."""
    url = registry.describe(pipeline.settings, pipeline.endpoint).url
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {pipeline.token}"}).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("scones_endpoint_requests_total{") and 'route="invocations"' in line
    )


def _delete(client: TestClient, pipeline: Pipeline, csrf: str | None) -> Callable[[], object]:
    response = client.post(f"/endpoints/{pipeline.endpoint}/delete", data=_form(csrf, confirm=pipeline.endpoint))
    assert response.status_code == 403, response.text
    return lambda: registry.describe(pipeline.settings, pipeline.endpoint).status


def _start(client: TestClient, pipeline: Pipeline, csrf: str | None) -> Callable[[], object]:
    marker = uuid.uuid4().hex
    execution_input = f'{{"s3_bucket": "{pipeline.settings.bucket}", "s3_key": "data/test/red.png", "m": "{marker}"}}'
    form = _form(csrf, input=execution_input, type="STANDARD")
    response = client.post("/state-machines/pipeline/start", data=form, follow_redirects=False)
    assert response.status_code == 403, response.text

    def started() -> int:
        with sqlite3.connect(pipeline.settings.state_db) as conn:
            found = conn.execute("SELECT count(*) FROM executions WHERE input LIKE ?", (f"%{marker}%",)).fetchone()
        conn.close()
        return int(found[0])

    return started


def _invoke(client: TestClient, pipeline: Pipeline, csrf: str | None) -> Callable[[], object]:
    before = _invocations(pipeline)
    files = {"image": ("red.png", png_bytes(COLOURS["red.png"]), "image/png")}
    response = client.post(f"/endpoints/{pipeline.endpoint}/invoke", data=_form(csrf), files=files)
    assert response.status_code == 403, response.text
    return lambda: _invocations(pipeline) - before


ACTIONS = {"delete-endpoint": (_delete, "InService"), "start-execution": (_start, 0), "invoke-endpoint": (_invoke, 0)}


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("action", ACTIONS)
def test_a_forged_form_is_refused_and_changes_nothing(
    client: TestClient, pipeline: Pipeline, action: str, forgery: str
) -> None:
    post, unchanged = ACTIONS[action]
    state = post(client, pipeline, FORGERIES[forgery])
    assert state() == unchanged
