"""CloudWatch Logs for SageMaker endpoints: `/aws/sagemaker/Endpoints/<name>` from the endpoint's log file.

An endpoint process writes `<home>/logs/endpoint-<name>.log` (`scones.endpoint.process`); before a
Logs request reads that group, the lines written since the last look are appended to the
`LogStore` stream `<variant>/<name>` (SageMaker names it `<variant>/<instance id>`), so
DescribeLogStreams, GetLogEvents and FilterLogEvents answer as for any other group.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from scones import state
from scones.config import Settings
from scones.endpoint.process import log_path
from scones.endpoint.table import all_records, find
from scones.localaws.logstore import LogStore
from scones.localaws.protocol import AwsError

GROUP_PREFIX = "/aws/sagemaker/Endpoints/"


def mirror(settings: Settings, logs: LogStore, group: str) -> None:
    """Bring the group of endpoint `<name>` up to date with its log file (nothing for other groups)."""
    if not group.startswith(GROUP_PREFIX):
        return
    name = group[len(GROUP_PREFIX) :]
    record = find(settings, name)
    path = log_path(settings, name)
    if record is None or not path.is_file():
        return
    variants = record.config.get("variants") or [{"name": record.config.get("variant", "AllTraffic")}]
    stream = f"{variants[0]['name']}/{name}"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        seen = len(logs.events(group, stream))
    except AwsError:  # no group or stream yet
        seen = 0
    if len(lines) > seen:
        logs.append(group, stream, lines[seen:])


def mirror_all(settings: Settings, logs: LogStore) -> None:
    """Every endpoint's group up to date, so DescribeLogGroups lists them (reads state.db; creates nothing)."""
    if not settings.state_db.exists():
        return
    try:
        with closing(state.connect(settings)) as conn:
            names = [r.name for r in all_records(conn)]
    except sqlite3.OperationalError:  # no endpoints table yet
        return
    for name in names:
        mirror(settings, logs, GROUP_PREFIX + name)
