"""Ground-truth labels for captured inferences, keyed by inferenceId or eventId.

Accepted, in one file or a folder/prefix of files:
  - SageMaker Model Monitor's ground-truth JSONL (model-quality monitoring):
    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "..."},
     "eventVersion": "0"}  (the id may also be an inferenceId);
  - JSONL {"inferenceId" or "eventId" or "id": ..., "label": ...};
  - CSV lines `id,label` (a header line is skipped).
A label is a class index ("1") or a class name ("motorcycle"). Lines that cannot be read are
counted, not fatal; a source with no usable label at all is an error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scones.errors import MonitorError
from scones.monitor.captured import list_files, open_file
from scones.storage import Store


@dataclass
class Labels:
    """id -> class index, and how many lines could not be used."""

    by_id: dict[str, int] = field(default_factory=dict)
    bad_lines: int = 0


def load_labels(store: Store, location: str, classes: Sequence[str]) -> Labels:
    labels = Labels()
    names = {c.lower(): i for i, c in enumerate(classes)}
    for file in list_files(store, location):
        with open_file(store, location, file.name) as handle:
            for raw in handle:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                parsed = _parse(line, names, len(classes))
                if parsed is None:
                    labels.bad_lines += 1
                    continue
                labels.by_id[parsed[0]] = parsed[1]
    if not labels.by_id:
        raise MonitorError(
            f"No usable labels in {location}; write lines as SageMaker ground-truth JSONL or 'inferenceId,label' CSV"
        )
    return labels


def _parse(line: str, names: dict[str, int], count: int) -> tuple[str, int] | None:
    if line.startswith("{"):
        try:
            body = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(body, dict):
            return None
        truth = body.get("groundTruthData")
        raw_meta = body.get("eventMetadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        key = meta.get("inferenceId") or meta.get("eventId") or body.get("inferenceId") or body.get("eventId")
        key = key or body.get("id")
        value = truth.get("data") if isinstance(truth, dict) else body.get("label")
    else:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            return None
        key, value = parts
    label = _label(value, names, count)
    if not isinstance(key, str) or not key or label is None:
        return None
    return key, label


def _label(value: object, names: dict[str, int], count: int) -> int | None:
    if isinstance(value, str) and value.strip().lower() in names:
        return names[value.strip().lower()]
    try:
        index = int(str(value).strip())
    except ValueError:
        return None
    return index if 0 <= index < count else None
