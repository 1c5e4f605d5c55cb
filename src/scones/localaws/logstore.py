"""CloudWatch Logs' data model in files: one JSON-lines file per log stream under the home.

`<home>/logs/localaws/<group>/<stream>.jsonl` (names percent-encoded), each line
`{"timestamp": ms, "message": str, "ingestionTime": ms}`. Lambda invocations write here, so
`aws logs get-log-events` and `filter-log-events` read what `print` wrote in a function.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from scones.localaws.protocol import AwsError

_encode = json.JSONEncoder().encode  # one encoder: json.dumps builds one per call


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}  # groups whose folder exists

    def append(self, group: str, stream: str, messages: list[str]) -> None:
        """Append events in one write (every Lambda invocation calls this: it stays cheap)."""
        now = int(time.time() * 1000)
        folder = self._made.get(group)
        if folder is None:
            folder = self._group(group)
            folder.mkdir(parents=True, exist_ok=True)
            self._made[group] = folder
        path = os.path.join(folder, quote(stream, safe="") + ".jsonl")
        data = "".join(_encode({"timestamp": now, "message": m, "ingestionTime": now}) + "\n" for m in messages)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data.encode("utf-8"))
        finally:
            os.close(fd)

    def groups(self) -> list[dict[str, Any]]:
        """Every group with a stream, in CloudWatch's order (by name): name, creation time and size."""
        out = []
        for folder in sorted(self.root.glob("*"), key=lambda f: unquote(f.name)):
            files = list(folder.glob("*.jsonl")) if folder.is_dir() else []
            if not files:
                continue
            firsts = [_first_timestamp(f) for f in files]
            created = min((t for t in firsts if t is not None), default=int(folder.stat().st_mtime * 1000))
            size = sum(f.stat().st_size for f in files)
            out.append({"logGroupName": unquote(folder.name), "creationTime": created, "storedBytes": size})
        return out

    def streams(self, group: str, prefix: str = "") -> list[dict[str, Any]]:
        folder = self._existing(group)
        out = []
        for path in sorted(folder.glob("*.jsonl")):
            name = unquote(path.name[: -len(".jsonl")])
            if not name.startswith(prefix):
                continue
            events = self.events(group, name)
            first, last = (events[0]["timestamp"], events[-1]["timestamp"]) if events else (0, 0)
            out.append(
                {
                    "logStreamName": name,
                    "creationTime": first,
                    "firstEventTimestamp": first,
                    "lastEventTimestamp": last,
                    "lastIngestionTime": last,
                    "storedBytes": 0,
                    "arn": f"log-group:{group}:log-stream:{name}",
                }
            )
        return out

    def events(self, group: str, stream: str) -> list[dict[str, Any]]:
        path = self._existing(group) / (quote(stream, safe="") + ".jsonl")
        if not path.is_file():
            raise AwsError("ResourceNotFoundException", "The specified log stream does not exist.")
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def _group(self, group: str) -> Path:
        return self.root / quote(group, safe="")

    def _existing(self, group: str) -> Path:
        folder = self._group(group)
        if not folder.is_dir():
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return folder


def _first_timestamp(path: Path) -> int | None:
    """The first event's time: a group's creation time without reading whole streams."""
    with path.open(encoding="utf-8") as f:
        line = f.readline()
    try:
        return int(json.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None
