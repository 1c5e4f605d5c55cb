from __future__ import annotations

import pytest

from scones.aws.errors import AwsError
from scones.aws.record import Record


def test_round_trip_and_no_duplicates() -> None:
    record = Record("b-1", "us-east-1", "scones")
    record.add("iam-role", "r1")
    record.add("iam-role", "r1")
    record.add("lambda-function", "f1")
    again = Record.from_json(record.to_json())
    assert again == record and len(again.resources) == 2
    assert again.has("lambda-function", "f1") and not again.has("lambda-function", "f2")


def test_a_corrupt_record_says_what_to_do() -> None:
    with pytest.raises(AwsError, match="remove resources by hand"):
        Record.from_json("{not json")
