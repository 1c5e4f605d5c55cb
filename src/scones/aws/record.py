"""The deployment record: what deploy made, kept in the bucket beside the data.

Deploy writes it after every resource it creates, so even a deployment that failed half-way
can be destroyed exactly; destroy reads it and removes those resources, newest first, and
nothing else. Anyone with the bucket and region can destroy, from any machine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from scones.aws.errors import AwsError, aws_call, error_code

RECORD_KEY = "scones-aws/deployment.json"


@dataclass
class Resource:
    """One thing deploy made: `kind` (e.g. 'iam-role', 'lambda-function') and its name."""

    kind: str
    name: str


@dataclass
class Record:
    """Everything one deployment made in one bucket and region."""

    bucket: str
    region: str
    name: str
    bucket_created: bool = False
    resources: list[Resource] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # object keys deploy wrote

    def has(self, kind: str, name: str) -> bool:
        return any(r.kind == kind and r.name == name for r in self.resources)

    def add(self, kind: str, name: str) -> None:
        if not self.has(kind, name):
            self.resources.append(Resource(kind, name))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        try:
            body = json.loads(text)
            resources = [Resource(**r) for r in body.pop("resources", [])]
            return cls(resources=resources, **body)
        except (ValueError, TypeError) as exc:
            raise AwsError(f"The deployment record {RECORD_KEY} is corrupt ({exc}); remove resources by hand") from exc


def read(s3: Any, bucket: str) -> Record | None:
    """The record in `bucket`, or None when there is none (or no such bucket)."""
    try:
        with aws_call(f"Reading s3://{bucket}/{RECORD_KEY}"):
            body = s3.get_object(Bucket=bucket, Key=RECORD_KEY)["Body"].read()
    except AwsError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
            return None
        raise
    return Record.from_json(body)


def write(s3: Any, record: Record) -> None:
    with aws_call(f"Writing s3://{record.bucket}/{RECORD_KEY}"):
        s3.put_object(
            Bucket=record.bucket, Key=RECORD_KEY, Body=record.to_json().encode(), ContentType="application/json"
        )
