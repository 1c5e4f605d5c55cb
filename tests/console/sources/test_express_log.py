"""The EXPRESS log index: one execution's events without reading the others', kept current."""

from __future__ import annotations

import json
from pathlib import Path

from scones.config import Settings
from scones.console.db import Database
from scones.console.sources import express_log


def lines(arn: str, count: int) -> str:
    return "".join(
        json.dumps({"executionArn": arn, "event": {"id": i, "type": "X"}}, separators=(",", ":")) + "\n"
        for i in range(1, count + 1)
    )


def test_history_reads_one_executions_lines_and_follows_appends(settings: Settings, tmp_path: Path) -> None:
    db = Database(settings)
    log = tmp_path / "pipeline.jsonl"
    log.write_text(lines("arn:a", 3) + lines("arn:b", 2) + '{"executionArn":"arn:a","ev')  # the last line unfinished
    assert [e["id"] for e in express_log.history(db, log, "arn:a")] == [1, 2, 3]
    assert [e["id"] for e in express_log.history(db, log, "arn:b")] == [1, 2]
    log.write_text(log.read_text() + 'ent":{"id":4,"type":"X"}}\n' + lines("arn:c", 1))
    assert [e["id"] for e in express_log.history(db, log, "arn:a")] == [1, 2, 3, 4]
    assert express_log.refresh(db, log) == 0  # nothing new
    assert express_log.history(db, log, "arn:none") == []


def test_a_replaced_log_is_indexed_again(settings: Settings, tmp_path: Path) -> None:
    db = Database(settings)
    log = tmp_path / "m.jsonl"
    log.write_text(lines("arn:a", 5))
    assert express_log.refresh(db, log) == 5
    log.write_text(lines("arn:z", 1))
    assert [e["id"] for e in express_log.history(db, log, "arn:z")] == [1]
    assert express_log.history(db, log, "arn:a") == []


def test_refresh_all_finds_every_state_machines_log(settings: Settings) -> None:
    folder = settings.logs_dir / "workflow"
    folder.mkdir(parents=True)
    (folder / "one.jsonl").write_text(lines("arn:1", 2))
    (folder / "two.jsonl").write_text(lines("arn:2", 3))
    assert express_log.refresh_all(Database(settings)) == 5
