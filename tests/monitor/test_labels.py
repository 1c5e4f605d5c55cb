from __future__ import annotations

import json
from pathlib import Path

import pytest

from scones.errors import MonitorError
from scones.monitor.labels import load_labels
from scones.storage import Store

CLASSES = ["bicycle", "motorcycle"]


def test_sagemaker_ground_truth_jsonl_in_a_folder(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "groundtruth" / "2026" / "03" / "12" / "14"
    folder.mkdir(parents=True)
    lines = [
        {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "e-1"}, "eventVersion": "0"},
        {"groundTruthData": {"data": "bicycle", "encoding": "CSV"}, "eventMetadata": {"inferenceId": "i-2"}},
    ]
    (folder / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "{broken\n")
    labels = load_labels(store, str(tmp_path / "groundtruth"), CLASSES)
    assert labels.by_id == {"e-1": 1, "i-2": 0} and labels.bad_lines == 1


def test_csv_and_simple_jsonl(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("inferenceId,label\nreq-1,motorcycle\nreq-2,0\nreq-3,7\n")
    assert load_labels(store, str(path), CLASSES).by_id == {"req-1": 1, "req-2": 0}
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"eventId": "x", "label": 1}) + "\n")
    assert load_labels(store, str(path), CLASSES).by_id == {"x": 1}


def test_no_usable_label_is_an_error(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("nothing useful here\n")
    with pytest.raises(MonitorError, match="No usable labels"):
        load_labels(store, str(path), CLASSES)
