from __future__ import annotations

from pathlib import Path

import pytest

from scones.errors import InvalidKey, ObjectNotFound, StorageError
from scones.storage import Store, read_uri

BACKENDS = ["store", "s3_store"]


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_put_get_list_delete(any_store: Store) -> None:
    bucket = any_store.settings.bucket
    any_store.put(bucket, "data/train/a.png", b"aaa")
    any_store.put(bucket, "data/test/b.png", b"bb")
    assert any_store.get(bucket, "data/train/a.png") == b"aaa"
    assert any_store.exists(bucket, "data/test/b.png")
    assert [(o.key, o.size) for o in any_store.list(bucket, "data")] == [
        ("data/test/b.png", 2),
        ("data/train/a.png", 3),
    ]
    any_store.delete(bucket, "data/test/b.png")
    assert not any_store.exists(bucket, "data/test/b.png")
    with pytest.raises(ObjectNotFound, match="No object at s3://"):
        any_store.get(bucket, "data/test/b.png")


def test_keys_cannot_escape(any_store: Store) -> None:
    with pytest.raises(InvalidKey):
        any_store.put(any_store.settings.bucket, "../outside", b"x")
    with pytest.raises(InvalidKey):
        any_store.get(any_store.settings.bucket, "/etc/passwd")


def test_local_layout_is_home_buckets_bucket_key(store: Store) -> None:
    store.put("scones", "data/train.lst", b"0\t0\ta.png\n")
    assert (store.settings.home / "buckets" / "scones" / "data" / "train.lst").read_bytes() == b"0\t0\ta.png\n"


def test_sync_uploads_only_what_changed(any_store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    for i in range(5):
        (src / "train" / f"{i}.png").write_bytes(bytes([i]) * (i + 1))
    bucket = any_store.settings.bucket
    first = any_store.sync(src, bucket, "data")
    assert (first.uploaded, first.unchanged) == (5, 0)
    again = any_store.sync(src, bucket, "data")
    assert (again.uploaded, again.unchanged) == (0, 5)
    (src / "train" / "2.png").write_bytes(b"changed")
    third = any_store.sync(src, bucket, "data")
    assert (third.uploaded, third.unchanged) == (1, 4)
    assert any_store.get(bucket, "data/train/2.png") == b"changed"


def test_read_uri_local_and_s3(any_store: Store, tmp_path: Path) -> None:
    any_store.put(any_store.settings.bucket, "x/y.bin", b"123")
    assert read_uri(any_store, f"s3://{any_store.settings.bucket}/x/y.bin") == b"123"
    (tmp_path / "f").write_bytes(b"file")
    assert read_uri(any_store, str(tmp_path / "f")) == b"file"
    with pytest.raises(StorageError, match="No file at"):
        read_uri(any_store, str(tmp_path / "missing"))


def test_unreachable_s3_is_a_storage_error(clean_environ: Path) -> None:
    from scones.config import load_settings

    dead = Store(load_settings(storage="s3", s3_endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(StorageError, match="reachable"):
        dead.get("scones", "a")


def test_local_sync_can_move_files_into_place(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "train" / "a.png").write_bytes(b"a")
    (src / "same.lst").write_bytes(b"same")
    store.put("scones", "data/same.lst", b"same")
    result = store.sync(src, "scones", "data", move=True)
    assert (result.uploaded, result.unchanged) == (1, 1)
    assert store.get("scones", "data/train/a.png") == b"a"
    assert not (src / "train" / "a.png").exists()  # renamed into the bucket, not copied
    assert (src / "same.lst").exists()  # unchanged files are left where they were
