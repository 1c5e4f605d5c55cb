"""Which Chromium or Chrome the browser tests drive: SCONES_CHROMIUM, else the first of the usual
names on the PATH, else the usual install paths, else the one Playwright downloaded. Debian calls
it `chromium`, Ubuntu `chromium-browser` (a snap), Google's packages `google-chrome`.

`python -m tests.browser` prints the browser found, or says how to get one and exits 1
(`make browser` uses it to decide whether to install one).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PATHS = (
    "/usr/bin/chromium",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/opt/google/chrome/chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
MISSING = (
    "No Chromium or Chrome found (looked for {names} on the PATH and in the usual places): "
    "install one with 'make browser', or set SCONES_CHROMIUM to its executable."
)


class BrowserNotFound(Exception):
    pass


def find_browser(environ: Mapping[str, str] = os.environ, paths: Sequence[str] = PATHS, playwright: bool = True) -> str:
    chosen = environ.get("SCONES_CHROMIUM", "")
    if chosen:
        if not os.access(chosen, os.X_OK) or Path(chosen).is_dir():
            raise BrowserNotFound(
                f"SCONES_CHROMIUM={chosen} is not an executable file: point it at Chromium or Chrome."
            )
        return chosen
    for name in NAMES:
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found:
            return found
    for path in paths:
        if os.access(path, os.X_OK) and Path(path).is_file():
            return path
    if playwright and (downloaded := _playwright_chromium()):
        return downloaded
    raise BrowserNotFound(MISSING.format(names=", ".join(NAMES)))


def _playwright_chromium() -> str | None:
    """The Chromium `playwright install chromium` put in its cache, if it did."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as driver:
        path = str(driver.chromium.executable_path)
    return path if os.access(path, os.X_OK) else None


if __name__ == "__main__":
    try:
        print(find_browser())
    except BrowserNotFound as exc:
        sys.exit(str(exc))
