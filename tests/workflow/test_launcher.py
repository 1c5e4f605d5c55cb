"""The executions database DBOS runs on: SQLite's clock at millisecond precision, whatever SQLite it is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from scones.workflow import launcher


def _now(engine: sa.Engine, expression: str) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT {expression}")).scalar()


def test_unixepoch_subsec_answers_on_every_sqlite(tmp_path: Path) -> None:
    # DBOS on Python >= 3.12 stamps every row with it; SQLite < 3.42 answers NULL without the override
    engine = launcher.sqlite_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        stamp = _now(engine, "unixepoch('subsec') * 1000")
        assert isinstance(stamp, float) and abs(stamp / 1000 - time.time()) < 5
        assert _now(engine, "unixepoch('now')") == pytest.approx(time.time(), abs=5)
        assert _now(engine, "unixepoch('2026-12-04 00:00:00')") == 1796342400
        assert _now(engine, "unixepoch('not a time')") is None
    finally:
        engine.dispose()
