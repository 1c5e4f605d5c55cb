"""Labels as SageMaker Model Monitor ground truth (reference: model-quality monitoring).

One record per line:

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "ID"},
     "eventVersion": "0"}

where ID is the capture's inferenceId when the caller sent one, else its eventId (the id Model
Monitor merges on), under `s3://<bucket>/ground-truth/<endpoint>/yyyy/mm/dd/hh/*.jsonl`, the hour
being when the labels were written. Each write is one new object, so a reviewer's label never
rewrites another's file; replacing a label removes its old line, so the ground truth holds
exactly one record (the last label) per id.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence

from scones.keys import join_key, s3_uri
from scones.storage import Store

PREFIX = "ground-truth"


def location(bucket: str, endpoint: str) -> str:
    """s3://<bucket>/ground-truth/<endpoint>/, what `scones monitor run --labels` is given."""
    return s3_uri(bucket, join_key(PREFIX, endpoint)) + "/"


def line(item_id: str, label: int) -> bytes:
    record = {
        "groundTruthData": {"data": str(label), "encoding": "CSV"},
        "eventMetadata": {"eventId": item_id},
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def write(store: Store, bucket: str, endpoint: str, labels: Sequence[tuple[str, int]]) -> str:
    """Write `labels` (id, class index) as one new object; returns its key."""
    at = time.time()
    stamp = time.strftime("%Y/%m/%d/%H/%M-%S", time.gmtime(at)) + f"-{int(at * 1000) % 1000:03d}"
    key = join_key(PREFIX, endpoint, f"{stamp}-{uuid.uuid4()}.jsonl")
    store.put(bucket, key, b"".join(line(i, label) for i, label in labels))
    return key


def remove(store: Store, bucket: str, key: str, item_id: str) -> None:
    """Drop `item_id`'s record from object `key` (the object goes when it holds nothing else)."""
    if not store.exists(bucket, key):
        return
    kept = [raw for raw in store.get(bucket, key).splitlines(keepends=True) if _id(raw) != item_id]
    if kept:
        store.put(bucket, key, b"".join(kept))
    else:
        store.delete(bucket, key)


def _id(raw: bytes) -> str | None:
    try:
        meta = json.loads(raw).get("eventMetadata") or {}
    except (ValueError, AttributeError):
        return None
    return meta.get("eventId") if isinstance(meta, dict) else None
