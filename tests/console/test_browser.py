"""The console in a real browser: Chromium or Chrome (tests/browser.py finds it), headless,
driven by Playwright, against a `scones console` process over a home filled by a small real
pipeline run (conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BrowserNotFound, find_browser
from tests.conftest import ARTIFACTS
from tests.console.conftest import COLOURS, Pipeline
from tests.helpers import png_bytes

pytestmark = pytest.mark.browser
ENVIRON = dict(os.environ)  # SCONES_CHROMIUM, read before clean_environ clears SCONES_* for each test
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = ARTIFACTS / "console"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")  # a live sync_playwright owns the event loop: end it with this module
def browser() -> Iterator[Any]:
    try:
        executable = find_browser(ENVIRON)
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Session:
    """A signed-in browser page that records console errors and failed requests."""

    def __init__(self, browser: Any, pipeline: Pipeline, width: int, height: int) -> None:
        self.base = pipeline.console_url
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.goto(f"{self.base}/login")
        self.page.fill("#token", pipeline.token)
        self.page.click("#sign-in")
        self.page.wait_for_url(f"{self.base}/")

    def _request_failed(self, request: Any) -> None:
        if request.failure != "net::ERR_ABORTED":  # cancelled by a navigation (e.g. the favicon), not an error
            self.errors.append(f"request failed: {request.url} ({request.failure})")

    def visit(self, path: str) -> Any:
        return self.page.goto(self.base + path, wait_until="load")

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(params=list(WIDTHS), scope="module")
def session(request: pytest.FixtureRequest, browser: Any, pipeline: Pipeline) -> Iterator[Session]:
    width, height = WIDTHS[request.param]
    s = Session(browser, pipeline, width, height)
    s.name = request.param  # type: ignore[attr-defined]
    yield s
    s.context.close()


def _pages(pipeline: Pipeline) -> dict[str, str]:
    grey = pipeline.executions["data/test/grey.png"]
    red = pipeline.executions["data/test/red.png"]
    return {
        "overview": "/",
        "training-jobs": "/training-jobs",
        "models": "/models",
        "endpoints": "/endpoints",
        "endpoint": f"/endpoints/{pipeline.endpoint}",
        "state-machines": "/state-machines",
        "state-machine": "/state-machines/pipeline",
        "executions": "/executions",
        "executions-failed": "/executions?status=FAILED",
        "execution-succeeded": f"/executions/{red}",
        "execution-low-confidence": f"/executions/{grey}",
        "captured": "/captured",
        "captured-low": "/captured?low=1",
        "captured-record": "/captured/1",
        "monitoring": "/monitoring",
        "loop": "/loop",
    }


# Basic accessibility, checked on every page: pictures have text, form fields have labels,
# nothing is wider than the window (no sideways scrolling at phone width).
A11Y = """() => ({
  imagesWithoutAlt: [...document.querySelectorAll("img:not([alt])")].length,
  unlabelled: [...document.querySelectorAll("input:not([type=hidden]):not([hidden]), select, textarea")]
    .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.getAttribute("aria-label")).length,
  svgsWithoutTitle: [...document.querySelectorAll("main svg")].filter(s => !s.querySelector("title")).length,
  overflow: document.documentElement.scrollWidth - window.innerWidth,
})"""


def test_every_page_loads_with_no_console_errors(session: Session, pipeline: Pipeline) -> None:
    for name, path in _pages(pipeline).items():
        if name == "monitoring":
            pipeline.monitoring.wait()
        response = session.visit(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        assert session.page.locator("h1").count() == 1, path
        checks = session.page.evaluate(A11Y)
        assert checks == {"imagesWithoutAlt": 0, "unlabelled": 0, "svgsWithoutTitle": 0, "overflow": 0}, path
        session.shot(f"{name}-{session.name}")  # type: ignore[attr-defined]
    assert session.errors == []


def test_low_confidence_execution_shows_its_filter_state_in_red(session: Session, pipeline: Pipeline) -> None:
    session.visit(f"/executions/{pipeline.executions['data/test/grey.png']}")
    state = session.page.locator('g.state[data-state="filterInferences"]')
    assert state.get_attribute("data-outcome") == "failed"
    assert state.locator("rect").get_attribute("stroke") == "#c81e1e"  # red
    assert "ThresholdConfidenceNotMet" in session.page.locator("main").inner_text()
    for earlier in ("serializeImageData", "classify"):  # the states before it went through: green
        assert session.page.locator(f'g.state[data-state="{earlier}"] rect').get_attribute("stroke") == "#1b7f3b"
    session.visit(f"/executions/{pipeline.executions['data/test/red.png']}")
    assert session.page.locator('g.state[data-state="filterInferences"] rect').get_attribute("stroke") == "#1b7f3b"


def test_upload_form_returns_a_prediction(session: Session, pipeline: Pipeline) -> None:
    session.visit(f"/endpoints/{pipeline.endpoint}")
    upload = {"name": "blue.png", "mimeType": "image/png", "buffer": png_bytes(COLOURS["blue.png"])}
    session.page.set_input_files("#image", files=[upload])
    session.page.click("form[enctype] button[type=submit]")
    session.page.wait_for_selector("#prediction")
    text = session.page.locator("#prediction").inner_text()
    assert "motorcycle" in text.split("with confidence")[0]
    session.shot(f"endpoint-prediction-{session.name}")  # type: ignore[attr-defined]
    assert session.errors == []


def test_starting_an_execution_from_the_console_shows_how_it_went(session: Session, pipeline: Pipeline) -> None:
    session.visit("/state-machines/pipeline")
    grey = f'{{"image_data": "", "s3_bucket": "{pipeline.settings.bucket}", "s3_key": "data/test/grey.png"}}'
    session.page.fill("#input", grey)
    session.page.select_option("#type", "EXPRESS")
    session.page.click("text=Start execution")
    session.page.wait_for_url(f"{session.base}/executions/**")
    assert session.page.locator('g.state[data-state="filterInferences"]').get_attribute("data-outcome") == "failed"
    assert "FAILED" in session.page.locator("main").inner_text()
    session.shot(f"execution-started-{session.name}")  # type: ignore[attr-defined]
    assert session.errors == []


def test_the_loop_page_shows_an_iteration_and_its_comparison(session: Session, pipeline: Pipeline) -> None:
    from scones.loop import table

    settings = pipeline.settings
    if not any(i["endpoint"] == "night-cam" for i in table.iterations(settings)):  # once for both widths
        table.add_version(settings, "s3://scones/data-v2", "night-cam", "s3://scones/data", {"train": 9}, 7)
        iteration = table.start_iteration(settings, "night-cam", "labels")
        retrain = {
            "comparison": {"test": {"current": 0.91, "candidate": 0.92},
                           "reviewed-test": {"current": 0.55, "candidate": 0.9}},
            "candidate": {"package": "arn:aws:sagemaker:local:000000000000:model-package/night-cam/1",
                          "training_seconds": 95.2, "warm_start": True},
        }  # fmt: skip
        table.finish_iteration(
            settings, iteration, "Deployed", "better on reviewed-test by +0.3500", {"retrain": retrain}
        )
    session.visit("/loop")
    row = session.page.locator("#iterations tbody tr").first.inner_text()
    assert "night-cam #" in row and "Deployed" in row and "labels" in row
    assert "0.550" in row and "0.900" in row and "model-package/night-cam/1" in row
    assert "s3://scones/data-v2" in session.page.locator("#versions").inner_text()
    assert session.page.locator('nav a[href="/loop"]').count() == 1
    session.shot(f"loop-{session.name}")  # type: ignore[attr-defined]
    assert session.errors == []


def test_the_endpoint_page_shows_deployments_and_scaling_events(session: Session, pipeline: Pipeline) -> None:
    """A rolled-back deployment (its trigger and figures) and a scale-out, as a reader sees them at each width."""
    from contextlib import closing

    from scones.endpoint import table

    name = pipeline.endpoint
    phases = [
        {"phase": "Started", "at": "2026-01-02T00:00:00.000Z"},
        {"phase": "Canary", "at": "2026-01-02T00:00:01.000Z", "candidate_percent": 25.0},
        {"phase": "RolledBack", "at": "2026-01-02T00:00:04.000Z", "trigger": "disagreement",
         "figures": {"candidate": {"compared": 40.0, "disagreement_rate": 1.0}, "old": {"requests": 120.0}}},
    ]  # fmt: skip
    with closing(table.connect(pipeline.settings)) as conn:
        table.put_deployment(conn, table.DeploymentRecord(
            "browser-d1", name, "canary", "RolledBack", "/m/swapped.tar.gz", [], phases,
            "2026-01-02T00:00:00.000Z", "2026-01-02T00:00:04.000Z",
        ))  # fmt: skip
        table.add_scaling_event(conn, table.ScalingEvent(
            name, 1, "2026-01-02T00:01:00.000Z", 1, 4,
            {"invocations_per_worker_per_minute": 9876.5, "target": 600.0, "reason": "above target for 30 s"},
        ))  # fmt: skip
    session.visit(f"/endpoints/{name}")
    deployments = session.page.locator("section[aria-labelledby=deployments-h]").inner_text()
    assert "Canary 25.0%" in deployments and "disagreement" in deployments
    assert "disagreement rate 1.0" in deployments and "/m/swapped.tar.gz" in deployments
    scaling = session.page.locator("section[aria-labelledby=scaling-h]").inner_text()
    assert "1 → 4" in scaling and "9876.5" in scaling and "above target for 30 s" in scaling
    assert session.page.evaluate(A11Y)["overflow"] <= 0
    session.shot(f"endpoint-deployments-scaling-{session.name}")  # type: ignore[attr-defined]
    assert session.errors == []
