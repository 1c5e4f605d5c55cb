from __future__ import annotations

from pathlib import Path

from scones.data.scan import scan, statistics
from scones.data.sources import Candidate
from tests.data.photos import cifar_rows, jpeg


def _candidate(split: str, label: int, path: str, data: bytes) -> Candidate:
    return Candidate(split, label, path, f"src/{split}/{path}", lambda: data)


def test_scan_copies_checks_and_groups_duplicates(tmp_path: Path) -> None:
    a, b, c = (jpeg(row, (160, 120)) for row in cifar_rows(3, seed=30))
    candidates = [
        _candidate("train", 0, "x/a.jpg", a),
        _candidate("train", 0, "x/a-again.jpg", a),  # within train
        _candidate("train", 1, "y/b.jpg", b),
        _candidate("test", 1, "y/b.jpg", b),  # across splits
        _candidate("test", 0, "x/c.jpg", c),
        _candidate("test", 0, "x/bad.jpg", b"nope"),
    ]
    found = scan(candidates, tmp_path)
    assert [(bad.origin, bad.reason) for bad in found.bad] == [("src/test/x/bad.jpg", "not an image")]
    assert (tmp_path / "train" / "x" / "a-again.jpg").read_bytes() == a  # copied as it is
    assert not (tmp_path / "test" / "x" / "bad.jpg").exists()
    within, across = found.duplicates()
    assert within == [["train/x/a-again.jpg", "train/x/a.jpg"]]
    assert across == [["test/y/b.jpg", "train/y/b.jpg"]]
    figures = statistics(found.good, ["x", "y"])
    assert figures["class_counts"] == {"train": {"x": 2, "y": 1}, "test": {"x": 1, "y": 1}}
    assert figures["image_sizes"]["test"]["common"] == {"160x120": 2}
    assert list(figures["class_counts"]) == ["train", "test"]  # train first
