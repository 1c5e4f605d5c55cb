"""CloudWatch Logs' data model in files: one JSON-lines file per log stream under the home.

`<home>/logs/localaws/<group>/<stream>.jsonl` (names percent-encoded), each line
`{"timestamp": ms, "message": str, "ingestionTime": ms}`. Lambda invocations write here, so
`aws logs get-log-events` and `filter-log-events` read what `print` wrote in a function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from scones.localaws.protocol import AwsError


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, group: str, stream: str, messages: list[str]) -> None:
        now = int(time.time() * 1000)
        path = self._group(group) / (quote(stream, safe="") + ".jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps({"timestamp": now, "message": m, "ingestionTime": now}) + "\n" for m in messages)
        with path.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)

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
