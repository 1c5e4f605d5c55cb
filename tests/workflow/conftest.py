"""Stage 3 workflow fixtures: images in the local bucket, the real endpoint, the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scones.config import Settings
from scones.functions import NAMES, runtime
from scones.storage import Store
from scones.workflow import machines
from tests.functions.support import live_endpoint, put_images

DEFINITIONS = Path(__file__).parent / "definitions"


@pytest.fixture
def images(store: Store) -> dict[str, str]:
    return put_images(store)


@pytest.fixture
def endpoint(settings: Settings) -> Iterator[Any]:
    with live_endpoint(settings) as server:
        yield server


@pytest.fixture
def pipeline(settings: Settings) -> machines.StateMachine:
    return machines.create(settings, "pipeline", machines.pipeline_definition())


@pytest.fixture
def stubs() -> Iterator[dict[str, list[Any]]]:
    """Stand-in handlers under the scones names that record their events (always confident)."""
    calls: dict[str, list[Any]] = {name: [] for name in NAMES}

    def make(name: str) -> Any:
        def handler(event: Any, context: Any) -> Any:
            calls[name].append(event)
            body = event.get("body", event)
            return {"statusCode": 200, "body": {**body, "inferences": [0.99, 0.01]}}

        return handler

    for name in NAMES:
        runtime.use(name, make(name))
    yield calls
    for name in NAMES:
        runtime.use(name, None)
