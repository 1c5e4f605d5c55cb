"""The reviewer page in a real browser (Chromium through Playwright) against a `scones console`
process: a person labels the queue by key presses, undoes and skips, with no page load per label,
fast enough for at least 20 labels a minute; the labels land in the database and as ground truth."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scones.config import Settings
from scones.monitor.labels import load_labels
from scones.review import groundtruth, queue
from scones.storage import Store
from tests.browser import BrowserNotFound, find_browser
from tests.conftest import ARTIFACTS, free_port
from tests.console.test_browser import A11Y, ARGS, ENVIRON
from tests.helpers import wait_healthy
from tests.review.support import CLASSES, capture, register

pytestmark = pytest.mark.browser
TOKEN = "review-browser-token"
ITEMS = 40
TIMED = 30  # labels timed by keyboard
SHOTS = ARTIFACTS / "console"


def truth(index: int) -> int:
    return 1 if index % 3 == 0 else 0


@pytest.fixture
def console(settings: Settings, store: Store, tmp_path: Path) -> Iterator[str]:
    register(settings)
    capture(store, [0.5 + 0.01 * i for i in range(ITEMS)], inference_ids=[f"img-{i:02d}" for i in range(ITEMS)])
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCONES_")}
    environ.update(SCONES_HOME=str(settings.home), SCONES_AUTH_TOKEN=TOKEN)
    log = tmp_path / "console.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scones.cli", "console", "--port", str(port)], env=environ, stdout=out, stderr=out
        )
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}/healthz", 60, log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def review_tab(console: str) -> Iterator[tuple[Any, list[str]]]:
    """A signed-in Chromium tab on the reviewer page, and the console errors it logs."""
    try:
        executable = find_browser(ENVIRON)
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"{console}/login")
        tab.fill("#token", TOKEN)
        tab.click("#sign-in")
        tab.wait_for_url(f"{console}/")
        tab.goto(f"{console}/review/ep")
        yield tab, errors
        browser.close()


SHOWN = """() => {
  const img = document.getElementById("review-image");
  return document.getElementById("review").dataset.itemId + "|" + (img.complete && img.naturalWidth > 0 && !img.hidden);
}"""


def _wait_shown(page: Any, not_id: str | None = None) -> str:
    """Wait until an item other than `not_id` is on screen with its image drawn; returns its id."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        item_id, ready = page.evaluate(SHOWN).split("|")
        if item_id and item_id != not_id and ready == "true":
            return str(item_id)
        page.wait_for_timeout(5)
    raise AssertionError(f"no new item shown after {not_id}")


def _index(item_id: str) -> int:
    return int(item_id.split("-")[1])


def test_labelling_by_keyboard_undo_skip_at_20_a_minute(
    review_tab: tuple[Any, list[str]], settings: Settings, store: Store
) -> None:
    page, errors = review_tab
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    assert page.evaluate(A11Y) == {"imagesWithoutAlt": 0, "unlabelled": 0, "svgsWithoutTitle": 0, "overflow": 0}
    shown = _wait_shown(page)
    assert shown == "img-00" and "40 pending" in page.locator("#review-progress-text").inner_text()
    assert page.locator("#review-guess").inner_text() == "bicycle"
    assert page.locator("#review-confidence").inner_text() == "50.0%"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review-desktop.png"), full_page=True)
    # A wrong label, undone: the item comes back; then a skip, undone; then its right label.
    page.keyboard.press("2" if truth(0) == 0 else "1")
    after = _wait_shown(page, shown)
    page.keyboard.press("u")
    assert _wait_shown(page, after) == shown
    page.keyboard.press("s")
    _wait_shown(page, shown)
    page.keyboard.press("u")
    assert _wait_shown(page, after) == shown
    posts = 4
    # Timed: label by keyboard, each time waiting for the next image to be on screen, as a person must.
    seconds: list[float] = []
    start = time.monotonic()
    for _ in range(TIMED):
        began = time.monotonic()
        page.keyboard.press(str(truth(_index(shown)) + 1))
        posts += 1
        shown = _wait_shown(page, shown)
        seconds.append(time.monotonic() - began)
    page.wait_for_function(f"() => Number(document.getElementById('review').dataset.saved || 0) >= {posts}")
    elapsed = time.monotonic() - start
    rate = TIMED / elapsed * 60
    print(f"\n{TIMED} labels by keyboard in {elapsed:.2f} s: {rate:.0f} labels/min; per label median "
          f"{statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms (all saved)")  # fmt: skip
    assert rate >= 20, f"only {rate:.1f} labels a minute"
    assert navigations == [] and errors == []
    # In the database: the last label of each, right per the known truth; the undone ones in the history.
    done = {r.id: r.label for r in queue.reviewed(settings, "ep")}
    assert len(done) == TIMED and all(label == truth(_index(i)) for i, label in done.items())
    assert [(a.action, a.undone is not None) for a in queue.history(settings, "ep", "img-00")] == [
        ("label", True), ("skip", True), ("label", False),
    ]  # fmt: skip
    assert {r.reviewer for r in queue.reviewed(settings, "ep")} == {"console"}
    # As ground truth: one record per labelled item, read as the monitor reads it.
    labels = load_labels(store, groundtruth.location(settings.bucket, "ep"), CLASSES)
    assert labels.by_id == done and labels.bad_lines == 0
    assert page.locator("#review-progress-text").inner_text().startswith(f"{ITEMS - TIMED} pending · {TIMED} labelled")
    # Captures that arrive while the page is open reach the reviewer without a reload.
    capture(store, [0.6] * 3, inference_ids=[f"img-{i}" for i in range(ITEMS, ITEMS + 3)], first_shade=99)
    rest, left = 0, ITEMS - TIMED + 3  # img-00 was labelled first in the timed run
    while page.locator("#review-done").is_hidden():
        page.keyboard.press(str(truth(_index(shown)) + 1))
        rest += 1
        if rest < left:
            shown = _wait_shown(page, shown)
        else:
            page.wait_for_selector("#review-done", state="visible")
    assert rest == left and navigations == []
    page.wait_for_function(f"() => Number(document.getElementById('review').dataset.saved) >= {posts + rest}")
    assert len(queue.reviewed(settings, "ep")) == ITEMS + 3
    # At phone width the page still fits (the image above the keys), with nothing sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(A11Y)["overflow"] == 0
    page.screenshot(path=str(SHOTS / "review-phone.png"), full_page=True)
