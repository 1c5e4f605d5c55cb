"""State machines and executions, through stage 3's API (scones.workflow) and its tables.

Listing pages query the `executions` table directly, newest first and a page at a time,
across state machines; the console adds the indexes that makes fast (status, start time).
One execution's record and history come from `scones.workflow.records`.
"""

from __future__ import annotations

import json
from typing import Any

from scones import state
from scones.config import Settings
from scones.console.db import Database
from scones.console.sources import express_log
from scones.errors import WorkflowError

INDEXES = """
CREATE INDEX IF NOT EXISTS console_executions_started ON executions (started);
CREATE INDEX IF NOT EXISTS console_executions_status ON executions (status, started);
"""
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def machines(settings: Settings) -> list[Any]:
    from scones.workflow import machines as registry

    return registry.list_all(settings)


def machine(settings: Settings, name: str) -> Any | None:
    from scones.workflow import machines as registry

    try:
        return registry.get(settings, name)
    except WorkflowError:
        return None


def _ready(db: Database) -> bool:
    if not db.has_table("executions"):
        return False
    state.ensure_table(db.conn(), "console_executions_indexes", INDEXES)
    return True


def _where(status: str, machine_name: str) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if machine_name:
        clauses.append("state_machine = ?")
        params.append(machine_name)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def count(db: Database, status: str = "", machine_name: str = "") -> int:
    if not _ready(db):
        return 0
    where, params = _where(status, machine_name)
    return int(db.scalar(f"SELECT count(*) FROM executions{where}", tuple(params)))  # noqa: S608


def status_counts(db: Database, machine_name: str = "") -> dict[str, int]:
    if not _ready(db):
        return {}
    where, params = _where("", machine_name)
    rows = db.rows(f"SELECT status, count(*) AS n FROM executions{where} GROUP BY status", tuple(params))  # noqa: S608
    return {str(r["status"]): int(r["n"]) for r in rows}


def executions(db: Database, limit: int, offset: int, status: str = "", machine_name: str = "") -> list[dict[str, Any]]:
    if not _ready(db):
        return []
    where, params = _where(status, machine_name)
    columns = (
        "arn, name, state_machine, type, status, error, started, stopped, duration_ms,"
        " CASE WHEN json_valid(input) THEN json_extract(input, '$.s3_key') END AS s3_key"  # which image, at a glance
    )
    sql = f"SELECT {columns} FROM executions{where} ORDER BY started DESC LIMIT ? OFFSET ?"  # noqa: S608
    return db.rows(sql, (*params, limit, offset))


def execution(db: Database, arn: str) -> tuple[Any, list[dict[str, Any]]] | None:
    """An execution's record and its history events (AWS's shape).

    STANDARD history comes from stage 3's records; EXPRESS history from its log through the
    console's index of that log (`express_log`), so a page reads one execution's lines only.
    """
    from scones.workflow import records

    try:
        record = records.get(db.settings, arn)
    except WorkflowError:
        return None
    if record.type == "EXPRESS":
        return record, express_log.history(db, records.log_path(db.settings, record.state_machine), record.arn)
    return record, records.history(db.settings, record)


def outcomes(events: list[dict[str, Any]], status: str) -> dict[str, str]:
    """Each state's outcome from the history: succeeded (exited), failed, running, caught."""
    entered: list[str] = []
    exited: set[str] = set()
    failed: set[str] = set()
    for event in events:
        kind = str(event.get("type", ""))
        entered_details = event.get("stateEnteredEventDetails")
        exited_details = event.get("stateExitedEventDetails")
        if kind.endswith("StateEntered") and isinstance(entered_details, dict):
            entered.append(str(entered_details.get("name")))
            if kind == "FailStateEntered":
                failed.add(str(entered_details.get("name")))
        elif kind.endswith("StateExited") and isinstance(exited_details, dict):
            exited.add(str(exited_details.get("name")))
    result: dict[str, str] = {}
    for name in entered:
        if name in failed:
            result[name] = "failed"
        elif name in exited:
            result[name] = "succeeded"
        elif status == "RUNNING":
            result[name] = "running"
        elif status == "SUCCEEDED":
            result[name] = "caught"  # left through a Catch, and the execution went on
        else:
            result[name] = "failed"
    return result


def steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history grouped per state: its input, output (or error) and timing, in order."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            current = {
                "name": details.get("name"), "input": _json(details.get("input")), "entered": event.get("timestamp"),
                "output": None, "error": None, "cause": None, "exited": None, "type": kind,
            }  # fmt: skip
            found.append(current)
        elif kind.endswith("StateExited") and current is not None:
            details = event.get("stateExitedEventDetails") or {}
            current["output"] = _json(details.get("output"))
            current["exited"] = event.get("timestamp")
        elif kind.endswith("Failed") and current is not None:
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            current["error"] = details.get("error")
            current["cause"] = _json(details.get("cause"))
    return found


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def start(settings: Settings, machine_name: str, execution_input: Any, type_: str) -> Any:
    from scones.workflow import executions as runner

    return runner.start(settings, machine_name, execution_input, type_=type_)
