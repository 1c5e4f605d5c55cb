"""SageMaker's own records that scones' cores do not keep: one JSON file per resource.

`<home>/localaws/sagemaker/<kind>/<name>.json` (`KINDS`) for training-jobs (the request as sent, the
status transitions), transform-jobs, models, endpoint-configs and endpoints (the config an endpoint runs).
What runs is kept by the cores (the `training_jobs` and `endpoints` tables), so the CLI and the
console see it; these files only add what SageMaker's API answers on top.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from scones.config import Settings
from scones.localaws.protocol import AwsError

KINDS = ("training-jobs", "transform-jobs", "models", "endpoint-configs", "endpoints", "model-package-groups")
_LOCK = threading.Lock()  # read-modify-write of one record (the training thread and the API both update jobs)


class Records:
    def __init__(self, settings: Settings, region: str, account_id: str) -> None:
        self.root = settings.home / "localaws" / "sagemaker"
        self.region, self.account_id = region, account_id

    def arn(self, kind: str, name: str) -> str:
        """`training-jobs` -> arn:aws:sagemaker:<region>:<account>:training-job/<name> (SageMaker lowercases it)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind.rstrip('s')}/{name.lower()}"

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        path = self._path(kind, name)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def put(self, kind: str, name: str, record: dict[str, Any]) -> None:
        path = self._path(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record), encoding="utf-8")
        os.replace(temporary, path)  # a reader never sees half a record

    def update(self, kind: str, name: str, **changes: Any) -> dict[str, Any]:
        with _LOCK:
            record = self.get(kind, name) or {}
            record.update(changes)
            self.put(kind, name, record)
        return record

    def delete(self, kind: str, name: str) -> None:
        self._path(kind, name).unlink(missing_ok=True)

    def names(self, kind: str) -> list[str]:
        folder = self.root / kind
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def _path(self, kind: str, name: str) -> Path:
        if "/" in name or name.startswith("."):  # names are checked by the callers; this guards the folder
            raise AwsError("ValidationException", f"{name!r} is not a valid name")
        return self.root / kind / f"{name}.json"


def page(items: list[Any], body: dict[str, Any], key: str) -> dict[str, Any]:
    """SageMaker's List* pagination: MaxResults (default 10, at most 100) and an opaque NextToken."""
    try:
        start = int(body.get("NextToken") or 0)
        limit = int(body.get("MaxResults") or 10)
    except (TypeError, ValueError) as exc:
        raise AwsError("ValidationException", "Invalid pagination token or MaxResults") from exc
    if not 1 <= limit <= 100:
        raise AwsError("ValidationException", f"MaxResults {limit}: give a value from 1 to 100")
    result: dict[str, Any] = {key: items[start : start + limit]}
    if start + limit < len(items):
        result["NextToken"] = str(start + limit)
    return result


def required(body: dict[str, Any], name: str) -> Any:
    """A required member, or the ValidationException AWS answers when it is missing."""
    value = body.get(name)
    if value in (None, "", [], {}):
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value null at '{name[0].lower()}{name[1:]}' "
            "failed to satisfy constraint: Member must not be null",
        )
    return value


def job_name_in_use(arn: str, noun: str) -> AwsError:
    """The ResourceInUse SageMaker answers for a second job of one name (`noun`: "training job", ...)."""
    return AwsError(
        "ResourceInUse",
        f"{noun[0].upper()}{noun[1:]} names must be unique within an AWS account and region, and a {noun} with "
        f"this name already exists ({arn})",
    )
