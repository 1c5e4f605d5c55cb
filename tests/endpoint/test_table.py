"""The endpoints table's owner: its rows, the workers' acknowledgements, the readers of later stages."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from scones.config import Settings
from scones.endpoint import table

SRC = Path(__file__).resolve().parents[2] / "src" / "scones"


def test_rows_round_trip_through_the_owner(settings: Settings) -> None:
    with closing(table.connect(settings)) as conn:
        table.put_creating(conn, "ep", "http://127.0.0.1:9", "/m/a.tar.gz", {"port": 9, "model_sha256": "a"}, "t0")
        created = table.get(conn, "ep")
        assert created is not None and created.status == "Creating" and created.pid is None
        assert created.created == "t0" and created.config == {"port": 9, "model_sha256": "a"}
        table.set_pid(conn, "ep", 1234)
        table.set_status(conn, "ep", "InService")
        table.point(conn, "ep", "/m/b.tar.gz", {"port": 9, "model_sha256": "b"})
        record = table.get(conn, "ep")
        assert record is not None and (record.pid, record.status, record.model) == (1234, "InService", "/m/b.tar.gz")
        table.mark_failed(conn, "ep", "gone")
        assert table.get(conn, "ep") == table.all_records(conn)[0]
        assert table.all_records(conn)[0].failure_reason == "gone"
        table.remove(conn, "ep")
        assert table.get(conn, "ep") is None and table.all_records(conn) == []


def test_worker_acknowledgements(settings: Settings) -> None:
    with closing(table.connect(settings)) as conn:
        table.acknowledge(conn, "ep", 11, "a", None, None)
        table.acknowledge(conn, "ep", 12, "a", "b", "ArtifactError: bad")
        table.acknowledge(conn, "ep", 11, "b", None, None)  # a worker's newer answer replaces its older one
        table.acknowledge(conn, "other", 13, "x", None, None)
        acks = sorted(table.acknowledgements(conn, "ep"), key=lambda a: a.pid)
    assert acks == [table.WorkerAck(11, "b", None, None), table.WorkerAck(12, "a", "b", "ArtifactError: bad")]


def test_readers_never_create_the_database(settings: Settings) -> None:
    assert table.find(settings, "ep") is None and table.capture_configs(settings) == []
    assert not settings.state_db.exists()
    with pytest.raises(sqlite3.Error):
        table.url_and_status(settings.state_db, "ep")
    assert not settings.state_db.exists()


def test_readers_see_what_deploy_writes(settings: Settings) -> None:
    with closing(table.connect(settings)) as conn:
        table.put_creating(conn, "ep", "http://127.0.0.1:9", "/m", {"capture_destination": "s3://b/c"}, "t0")
        table.set_status(conn, "ep", "InService")
    found = table.find(settings, "ep")
    assert found is not None and found.model == "/m"
    assert table.find(settings, "nope") is None
    assert table.capture_configs(settings) == [{"capture_destination": "s3://b/c"}]
    assert table.url_and_status(settings.state_db, "ep") == ("http://127.0.0.1:9", "InService")
    assert table.url_and_status(settings.state_db, "nope") is None


def test_only_the_owner_queries_the_endpoints_tables() -> None:
    query = re.compile(r"(FROM|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?)\s+(endpoints|endpoint_workers)\b", re.IGNORECASE)
    writers = sorted(str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if query.search(path.read_text()))
    assert writers == ["endpoint/table.py"]
