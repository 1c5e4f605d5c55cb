from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.data.dataset import LstEntry, format_lst, parse_lst, read_manifest, read_split
from scones.errors import DataError
from scones.storage import Store


@pytest.fixture(params=["store", "s3_store"])
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _png(pixels: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _put_split(store: Store, n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    bucket = store.settings.bucket
    entries = []
    for i in range(n):
        store.put(bucket, f"data/train/img_{i}.png", _png(pixels[i]))
        entries.append(LstEntry(index=i * 7, label=i % 2, path=f"img_{i}.png"))
    store.put(bucket, "data/train.lst", format_lst(entries).encode())
    store.put(bucket, "data/manifest.json", json.dumps({"classes": ["bicycle", "motorcycle"]}).encode())
    return pixels


def test_read_split_round_trips_pixels_and_labels(any_store: Store) -> None:
    pixels = _put_split(any_store)
    uri = f"s3://{any_store.settings.bucket}/data"
    split = read_split(any_store, f"{uri}/train", f"{uri}/train.lst")
    assert split.images.dtype == np.uint8 and split.images.shape == (5, 32, 32, 3)
    assert np.array_equal(split.images, pixels)
    assert split.labels.dtype == np.int64 and split.labels.tolist() == [0, 1, 0, 1, 0]
    assert split.names == [f"img_{i}.png" for i in range(5)]
    assert len(split) == 5
    again = read_split(any_store, f"{uri}/train", f"{uri}/train.lst")
    assert again.checksum == split.checksum and len(split.checksum) == 64
    assert read_manifest(any_store, uri)["classes"] == ["bicycle", "motorcycle"]


def test_checksum_changes_with_content(store: Store) -> None:
    _put_split(store)
    uri = f"s3://{store.settings.bucket}/data"
    before = read_split(store, f"{uri}/train", f"{uri}/train.lst").checksum
    store.put(store.settings.bucket, "data/train/img_0.png", _png(np.zeros((32, 32, 3), np.uint8)))
    assert read_split(store, f"{uri}/train", f"{uri}/train.lst").checksum != before


def test_reads_local_folder_and_rgba(store: Store, tmp_path: Path) -> None:
    pixels = np.full((32, 32, 3), 77, dtype=np.uint8)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(_png(pixels, "RGBA"))
    (tmp_path / "train.lst").write_text("3\t1\ta.png\n")
    split = read_split(store, str(tmp_path / "train"), str(tmp_path / "train.lst"))
    assert np.array_equal(split.images[0], pixels) and split.labels.tolist() == [1]


def test_bike_moto_export(store: Store, bike_moto: Path) -> None:
    split = read_split(store, str(bike_moto / "train"), str(bike_moto / "train.lst"))
    assert split.images.shape == (1000, 32, 32, 3)
    assert np.bincount(split.labels).tolist() == [500, 500]


@pytest.mark.parametrize(
    ("lst", "problem"),
    [
        ("0\t0\n", "expected 3 tab-separated fields"),
        ("x\t0\ta.png\n", "non-negative integers"),
        ("0\t-1\ta.png\n", "non-negative integers"),
        ("0\t0\t../a.png\n", "unsafe relative path"),
        ("0\t0\t/etc/passwd\n", "unsafe relative path"),
        ("0\t0\ta.png\n0\t1\tb.png\n", "duplicate index 0"),
    ],
)
def test_malformed_lst(lst: str, problem: str) -> None:
    with pytest.raises(DataError, match=problem):
        parse_lst(lst, "train.lst")


def test_missing_things_are_data_errors(store: Store, tmp_path: Path) -> None:
    uri = f"s3://{store.settings.bucket}/data"
    with pytest.raises(DataError, match="No label list at .*run 'scones stage'"):
        read_split(store, f"{uri}/train", f"{uri}/train.lst")
    with pytest.raises(DataError, match="No dataset manifest"):
        read_manifest(store, uri)
    store.put(store.settings.bucket, "data/train.lst", b"0\t0\tmissing.png\n")
    with pytest.raises(DataError, match="lists missing.png"):
        read_split(store, f"{uri}/train", f"{uri}/train.lst")
    store.put(store.settings.bucket, "data/train.lst", b"")
    with pytest.raises(DataError, match="lists no images"):
        read_split(store, f"{uri}/train", f"{uri}/train.lst")


def test_bad_images_and_manifest(store: Store) -> None:
    bucket, uri = store.settings.bucket, f"s3://{store.settings.bucket}/data"
    store.put(bucket, "data/train.lst", b"0\t0\ta.png\n")
    store.put(bucket, "data/train/a.png", b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        read_split(store, f"{uri}/train", f"{uri}/train.lst")
    store.put(bucket, "data/train/a.png", _png(np.full((16, 24, 3), 7, np.uint8)))  # any size is read at 32x32
    assert np.array_equal(read_split(store, f"{uri}/train", f"{uri}/train.lst").images[0], np.full((32, 32, 3), 7))
    store.put(bucket, "data/manifest.json", b"{nope")
    with pytest.raises(DataError, match="not valid JSON"):
        read_manifest(store, uri)
    store.put(bucket, "data/manifest.json", b"[]")
    with pytest.raises(DataError, match="no 'classes' list"):
        read_manifest(store, uri)
