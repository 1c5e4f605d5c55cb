"""tests/browser.py: SCONES_CHROMIUM, then the usual names on the PATH, then the usual paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import BrowserNotFound, find_browser


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_scones_chromium_wins_over_the_path(tmp_path: Path) -> None:
    chosen = executable(tmp_path / "custom" / "my-chrome")
    executable(tmp_path / "bin" / "chromium")
    environ = {"SCONES_CHROMIUM": str(chosen), "PATH": str(tmp_path / "bin")}
    assert find_browser(environ, paths=(), playwright=False) == str(chosen)


def test_a_scones_chromium_that_is_not_executable_says_so(tmp_path: Path) -> None:
    environ = {"SCONES_CHROMIUM": str(tmp_path / "nowhere"), "PATH": ""}
    with pytest.raises(BrowserNotFound, match="SCONES_CHROMIUM=.* is not an executable file"):
        find_browser(environ, paths=(), playwright=False)


@pytest.mark.parametrize("name", ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"])
def test_each_usual_name_on_the_path(tmp_path: Path, name: str) -> None:
    found = executable(tmp_path / "bin" / name)
    assert find_browser({"PATH": str(tmp_path / "bin")}, paths=(), playwright=False) == str(found)


def test_a_usual_path_off_the_path(tmp_path: Path) -> None:
    found = executable(tmp_path / "opt" / "google" / "chrome" / "chrome")
    paths = (str(tmp_path / "missing" / "chromium"), str(found))
    assert find_browser({"PATH": str(tmp_path / "empty")}, paths=paths, playwright=False) == str(found)


def test_none_found_says_how_to_get_one(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "chromium").write_text("not executable")
    with pytest.raises(BrowserNotFound, match="install one with 'make browser', or set SCONES_CHROMIUM"):
        find_browser({"PATH": str(tmp_path / "bin")}, paths=(str(tmp_path / "bin" / "chromium"),), playwright=False)
