"""State machines: a definition plus the local function each Lambda task is bound to.

Table `state_machines` in the state database. Creating one checks the definition fully
(`engine.validate`: unsupported features, interpreter parse, function bindings), so an
execution never starts from a definition that cannot run here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow import engine

DDL = """
CREATE TABLE IF NOT EXISTS state_machines (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    definition TEXT NOT NULL,
    bindings TEXT NOT NULL,  -- JSON: function name in the definition -> scones function
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
"""
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
PIPELINE = "pipeline"  # the name `scones demo` gives the seed's state machine


@dataclass(frozen=True)
class StateMachine:
    name: str
    arn: str
    definition: str
    bindings: dict[str, str]
    created: str
    updated: str

    def describe(self) -> dict[str, Any]:
        """DescribeStateMachine's fields (plus the local bindings)."""
        return {
            "stateMachineArn": self.arn,
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.definition,
            "roleArn": engine.ROLE_ARN,
            "type": "STANDARD",
            "creationDate": self.created,
            "functionBindings": self.bindings,
        }


def pipeline_definition() -> str:
    """The seed's state machine, as shipped in `scones/workflow/pipeline.asl.json`."""
    return resources.files("scones.workflow").joinpath("pipeline.asl.json").read_text(encoding="utf-8")


def arn(settings: Settings, name: str) -> str:
    return f"arn:aws:states:{settings.region}:{engine.ACCOUNT}:stateMachine:{name}"


def validate_name(name: str, what: str = "state machine") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise WorkflowError(f"Invalid {what} name {name!r}: use 1-80 letters, digits, '-' or '_'")
    return name


def _connect(settings: Settings) -> Any:
    from scones.workflow import records

    conn = records.connect(settings)  # this thread's cached connection: executions look machines up often
    # ensure_table remembers each database by its path; a set of id(conn) could not, since a
    # collected connection's id is reused by the next one, possibly to another home.
    state.ensure_table(conn, "state_machines", DDL)
    return conn


def create(settings: Settings, name: str, definition: str, functions: Mapping[str, str] | None = None) -> StateMachine:
    """Create (or update) state machine `name` from `definition`, binding its functions."""
    validate_name(name)
    bindings = engine.validate(definition, functions)
    now = state.now()
    _connect(settings).execute(
        "INSERT INTO state_machines (name, arn, definition, bindings, created, updated) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET definition=excluded.definition, bindings=excluded.bindings, "
        "updated=excluded.updated",
        (name, arn(settings, name), definition, state.dumps(bindings), now, now),
    )
    return get(settings, name)


def get(settings: Settings, name: str) -> StateMachine:
    row = _connect(settings).execute("SELECT * FROM state_machines WHERE name=?", (name,)).fetchone()
    if row is None:
        raise WorkflowError(f"No state machine {name!r}; run 'scones workflow create {name} --definition FILE'")
    return _from_row(row)


def delete(settings: Settings, name: str) -> None:
    """Delete state machine `name` (its executions' records stay, as AWS keeps them for a while)."""
    get(settings, name)
    _connect(settings).execute("DELETE FROM state_machines WHERE name=?", (name,))


def list_all(settings: Settings) -> list[StateMachine]:
    return [_from_row(r) for r in _connect(settings).execute("SELECT * FROM state_machines ORDER BY name")]


def _from_row(row: Any) -> StateMachine:
    return StateMachine(
        name=row["name"],
        arn=row["arn"],
        definition=row["definition"],
        bindings=state.loads(row["bindings"]),
        created=row["created"],
        updated=row["updated"],
    )
