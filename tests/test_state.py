from __future__ import annotations

import re
import threading
from pathlib import Path

from scones import state
from scones.config import Settings


def test_state_database_is_private_and_shared_between_connections(settings: Settings) -> None:
    conn = state.connect(settings)
    state.ensure_table(conn, "things", "CREATE TABLE IF NOT EXISTS things (name TEXT PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO things VALUES (?, ?)", ("a", state.dumps({"b": 1})))
    assert settings.state_db.stat().st_mode & 0o777 == 0o600
    other = state.connect(settings)
    row = other.execute("SELECT body FROM things WHERE name = 'a'").fetchone()
    assert state.loads(row["body"]) == {"b": 1}


def test_concurrent_writers_wait_instead_of_failing(settings: Settings) -> None:
    conn = state.connect(settings)
    state.ensure_table(conn, "counter", "CREATE TABLE IF NOT EXISTS counter (n INTEGER)")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            mine = state.connect(settings)
            for _ in range(50):
                mine.execute("INSERT INTO counter VALUES (1)")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert conn.execute("SELECT count(*) FROM counter").fetchone()[0] == 200


def test_connections_racing_to_open_a_new_home_all_get_in(tmp_path: Path) -> None:
    """The first connections to a new file race to switch it to WAL; SQLite refuses the losers at once
    (no busy wait), which hung CI when a racer died before a barrier. 16 threads, 400 new homes."""
    errors: list[BaseException] = []

    def open_and_read(settings: Settings) -> None:
        try:
            conn = state.connect(settings)
            try:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            finally:
                conn.close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    for i in range(400):
        settings = Settings(home=tmp_path / str(i))
        threads = [threading.Thread(target=open_and_read, args=(settings,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_now_is_iso_utc_with_z() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", state.now())
