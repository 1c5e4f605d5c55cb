"""Labels in bulk from a file: CSV `id,label` or SageMaker ground-truth JSONL.

    a1b2,motorcycle                       (a header line `id,label` is allowed)
    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "a1b2"},
     "eventVersion": "0"}

Unlike the monitor, which skips what it cannot read, an import is strict: one unreadable line
fails the whole file with its line number, and nothing is labelled (`queue.label_many` then
checks every id and class before writing).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from scones.errors import SconesError
from scones.keys import parse_s3_uri
from scones.review.errors import ReviewError
from scones.storage import Store

FORMATS = "write CSV lines 'id,label' or SageMaker ground-truth JSONL"


def read_labels(store: Store, source: str) -> list[tuple[str, str]]:
    """(id, label as written) per line of `source` (a file or an s3:// object), in file order."""
    text = _text(store, source)
    labels: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parsed = _json(line) if line.startswith("{") else _csv(line)
        if parsed is None:
            if number == 1 and line.replace(" ", "").lower() in ("id,label", "inferenceid,label", "eventid,label"):
                continue
            raise ReviewError(f"Cannot read {source} line {number}: {line[:80]!r}; {FORMATS}")
        labels.append(parsed)
    if not labels:
        raise ReviewError(f"No labels in {source}; {FORMATS}")
    return labels


def _text(store: Store, source: str) -> str:
    try:
        if source.startswith("s3://"):
            data = store.get(*parse_s3_uri(source))
        else:
            data = Path(source).expanduser().read_bytes()
    except (OSError, SconesError) as exc:
        raise ReviewError(f"Cannot read the label file {source}: {exc}; give a readable file") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError(f"The label file {source} is not UTF-8 text; {FORMATS}") from None


def _csv(line: str) -> tuple[str, str] | None:
    row = next(csv.reader([line]))
    if len(row) != 2 or not row[0].strip() or not row[1].strip():
        return None
    key, label = row[0].strip(), row[1].strip()
    if key.lower() in ("id", "inferenceid", "eventid") and label.lower() == "label":
        return None  # a header
    return key, label


def _json(line: str) -> tuple[str, str] | None:
    try:
        body = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    truth, meta = body.get("groundTruthData"), body.get("eventMetadata")
    if not isinstance(truth, dict) or not isinstance(meta, dict):
        return None
    key = meta.get("inferenceId") or meta.get("eventId")
    data = truth.get("data")
    if not isinstance(key, str) or not key or not isinstance(data, str | int) or isinstance(data, bool):
        return None
    return key, str(data).strip()
