from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from scones.config import Settings
from scones.data import synthetic
from scones.data.cifar import OFFICIAL_NAME
from scones.data.dataset import read_manifest, read_split
from scones.data.stage import StageResult, stage
from scones.errors import DataError, DownloadError
from scones.storage import Store
from tests.conftest import DEV_ARCHIVE
from tests.data.archives import NAMES, members
from tests.data.http_server import Site, serve


def _archive(path: Path, per_class: int = 4, filenames: list[str] | None = None) -> Path:
    parts = members(per_class)
    if filenames is not None:
        train = pickle.loads(parts["train"], encoding="bytes")  # trusted: written just above
        train[b"filenames"] = [n.encode() for n in filenames]
        parts["train"] = synthetic.py2_pickle(train)
    return synthetic.write_archive(path, parts)


def _objects(store: Store, bucket: str, prefix: str = "data") -> dict[str, str]:
    return {o.key: hashlib.sha256(store.get(bucket, o.key)).hexdigest() for o in store.list(bucket, prefix)}


def _dev_rows(dev_archive: Path, split: str) -> dict[bytes, Any]:
    import tarfile

    with tarfile.open(dev_archive) as tar:  # trusted test fixture: plain pickle to check against
        handle = tar.extractfile(f"cifar-100-python/{split}")
        assert handle is not None
        rows: dict[bytes, Any] = pickle.loads(handle.read(), encoding="bytes")
        return rows


@pytest.fixture(scope="module")
def staged_dev(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, StageResult]:
    """The dev archive staged once into a local bucket, shared by the read-only tests below."""
    if not DEV_ARCHIVE.is_file():
        pytest.skip(f"development archive not present at {DEV_ARCHIVE}")
    store = Store(Settings(home=tmp_path_factory.mktemp("staged-dev")))
    return store, stage(store, DEV_ARCHIVE)


def test_dev_archive_to_local_bucket(staged_dev: tuple[Store, StageResult], dev_archive: Path) -> None:
    store, result = staged_dev
    bucket_dir = store.local_path("scones", "data")
    assert len(list((bucket_dir / "train").glob("*.png"))) == 900
    assert len(list((bucket_dir / "test").glob("*.png"))) == 100
    assert result.counts == {"train": 900, "test": 100} and result.uri == "s3://scones/data"
    assert result.uploaded == 1003 and result.changed
    assert "Staged 900 train + 100 test images of bicycle, motorcycle to s3://scones/data" in result.summary()
    for split in ("train", "test"):
        raw = _dev_rows(dev_archive, split)
        fine, names = raw[b"fine_labels"], [n.decode() for n in raw[b"filenames"]]
        expected = "".join(f"{i}\t{[8, 48].index(f)}\t{n}\n" for i, (f, n) in enumerate(zip(fine, names, strict=True)))
        assert (bucket_dir / f"{split}.lst").read_text() == expected  # reference section 2, rows in archive order
    manifest = read_manifest(store, "s3://scones/data")
    assert manifest["classes"] == ["bicycle", "motorcycle"]
    assert manifest["counts"] == {"train": 900, "test": 100}
    assert manifest["class_counts"]["train"] == {"bicycle": 450, "motorcycle": 450}
    assert manifest["source_md5"] == "578d5420fb3ce42665522509ada666df"
    assert manifest["source"] == str(dev_archive.resolve()) and manifest["fine_labels"] == [8, 48]


def test_pngs_are_pixel_exact(staged_dev: tuple[Store, StageResult], dev_archive: Path) -> None:
    store, _ = staged_dev
    for split in ("train", "test"):
        raw = _dev_rows(dev_archive, split)
        data, names = raw[b"data"], raw[b"filenames"]
        for row in (0, 1, 42, 99):
            png = store.get("scones", f"data/{split}/{names[row].decode()}")
            with Image.open(io.BytesIO(png)) as image:
                assert image.mode == "RGB" and image.size == (32, 32)
                pixels = np.asarray(image)
            flat = data[row]
            for channel in range(3):  # the archive row: 1024 red, 1024 green, 1024 blue, row-major
                plane = flat[channel * 1024 : (channel + 1) * 1024].reshape(32, 32)
                assert np.array_equal(pixels[:, :, channel], plane)
        staged = read_split(store, f"s3://scones/data/{split}", f"s3://scones/data/{split}.lst")
        n = len(staged)
        assert np.array_equal(staged.images.reshape(n, -1, 3).transpose(0, 2, 1).reshape(n, 3072), data)


def test_idempotent(staged_dev: tuple[Store, StageResult], dev_archive: Path) -> None:
    store, _ = staged_dev
    before = _objects(store, "scones")
    again = stage(store, dev_archive)
    assert _objects(store, "scones") == before
    assert (again.uploaded, again.removed, again.unchanged) == (0, 0, 1003)
    assert again.summary().startswith("Nothing to do: s3://scones/data already holds 900 train + 100 test")


def test_same_bytes_in_another_home(store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz")
    other = Store(Settings(home=tmp_path / "other-home"))
    stage(store, archive)
    stage(other, archive)
    assert _objects(store, "scones") == _objects(other, "scones") != {}


def test_dev_archive_to_moto_s3(s3_store: Store, dev_archive: Path) -> None:
    bucket = s3_store.settings.bucket
    result = stage(s3_store, dev_archive)
    keys = [o.key for o in s3_store.list(bucket, "data")]
    assert sum(k.startswith("data/train/") and k.endswith(".png") for k in keys) == 900
    assert sum(k.startswith("data/test/") and k.endswith(".png") for k in keys) == 100
    assert {"data/train.lst", "data/test.lst", "data/manifest.json"} <= set(keys) and len(keys) == 1003
    assert result.uri == f"s3://{bucket}/data" and result.uploaded == 1003
    assert s3_store.get(bucket, "data/test.lst").decode().startswith("0\t0\tvelocipede_s_000702.png\n")


def test_s3_restage_is_idempotent(s3_store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz")
    bucket = s3_store.settings.bucket
    stage(s3_store, archive)
    before = _objects(s3_store, bucket)
    again = stage(s3_store, archive)
    assert not again.changed and again.unchanged == 13 and _objects(s3_store, bucket) == before
    changed = stage(s3_store, archive, classes=["bus"])
    assert changed.removed == 10 and read_manifest(s3_store, f"s3://{bucket}/data")["classes"] == ["bus"]


def test_bike_moto_folder(store: Store, bike_moto: Path) -> None:
    result = stage(store, bike_moto)
    assert result.counts == {"train": 1000}
    assert store.get("scones", "data/train.lst") == (bike_moto / "train.lst").read_bytes()
    assert not store.exists("scones", "data/test.lst")
    assert read_manifest(store, "s3://scones/data")["class_counts"] == {"train": {"bicycle": 500, "motorcycle": 500}}
    names = sorted(p.name for p in (bike_moto / "train").glob("*.png"))
    for name in names[::50]:  # files are kept as they are (RGBA stays RGBA); readers drop the alpha
        assert store.get("scones", f"data/train/{name}") == (bike_moto / "train" / name).read_bytes()
    split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    with Image.open(bike_moto / "train" / split.names[0]) as source:
        assert np.array_equal(split.images[0], np.asarray(source.convert("RGB")))


def test_folder_restage_is_idempotent(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    for split, color in (("train", (1, 2, 3)), ("test", (4, 5, 6))):
        (folder / split).mkdir(parents=True)
        Image.new("RGBA", (32, 32), (*color, 255)).save(folder / split / "a.png")
        (folder / f"{split}.lst").write_text("7\t1\ta.png\n")
    first = stage(store, folder)
    assert first.counts == {"train": 1, "test": 1} and first.uploaded == 5
    assert not stage(store, folder).changed


def test_restaging_other_classes_removes_stale_objects(store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz")
    stage(store, archive)
    result = stage(store, archive, classes=["train", "bus"])
    assert result.removed == 10  # 8 train + 2 test PNGs of bicycle/motorcycle
    split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    assert len(split) == 8 and all(n.startswith(("train_", "bus_")) for n in split.names)
    assert all(
        label == (0 if n.startswith("train_") else 1) for n, label in zip(split.names, split.labels, strict=True)
    )
    assert read_manifest(store, "s3://scones/data")["fine_labels"] == [4, 2]
    assert {o.key.split("/")[-1].split("_")[0] for o in store.list("scones", "data/train")} == {"train", "bus"}


def test_folder_with_only_train_replaces_old_test(store: Store, tmp_path: Path) -> None:
    stage(store, _archive(tmp_path / "a.tar.gz"))
    assert store.exists("scones", "data/test.lst")
    folder = tmp_path / "export"
    (folder / "train").mkdir(parents=True)
    Image.new("RGB", (32, 32), (9, 9, 9)).save(folder / "train" / "a.png")
    (folder / "train.lst").write_text("5\t1\ta.png\n")
    assert stage(store, folder).counts == {"train": 1}
    assert not store.exists("scones", "data/test.lst")
    assert list(store.list("scones", "data/test")) == []


def test_custom_bucket_and_prefix(store: Store, tmp_path: Path) -> None:
    result = stage(store, _archive(tmp_path / "a.tar.gz"), bucket="other", prefix="sets/bikes")
    assert result.uri == "s3://other/sets/bikes"
    assert store.exists("other", "sets/bikes/manifest.json") and store.exists("other", "sets/bikes/train.lst")


def test_duplicate_cifar_names_do_not_overwrite(store: Store, tmp_path: Path) -> None:
    names = ["same.png"] * 20
    stage(store, _archive(tmp_path / "a.tar.gz", filenames=names), classes=NAMES)
    split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    assert len(set(split.names)) == 20 and split.names[0] == "same.png"
    assert split.names[1] == "same-row1.png"


def test_unknown_class_lists_valid_names(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Unknown class 'bicycel'; valid CIFAR-100 fine labels: apple, bicycle, bus"):
        stage(store, _archive(tmp_path / "a.tar.gz"), classes=["bicycel", "bus"])
    assert list(store.list("scones")) == []


@pytest.mark.parametrize(
    ("classes", "message"),
    [([], "No classes given"), (["bus", "bus"], "Class bus given twice"), ([" ", ""], "No classes given")],
)
def test_bad_class_lists(store: Store, tmp_path: Path, classes: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        stage(store, tmp_path, classes=classes)


def test_classes_absent_from_the_archive(store: Store, dev_archive: Path) -> None:
    with pytest.raises(DataError, match="has no images of bus, train .it holds bicycle, motorcycle"):
        stage(store, dev_archive, classes=["bus", "train"])


def test_missing_and_unsupported_sources(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"No source at {tmp_path}/nope; give a CIFAR-100 python archive"):
        stage(store, tmp_path / "nope")
    with pytest.raises(DataError, match="Unsupported source 'ftp://x/a.tar.gz'"):
        stage(store, "ftp://x/a.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no class folders and no train.lst or test.lst"):
        stage(store, tmp_path / "empty")


def test_bad_archive_writes_nothing(store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz", per_class=20)
    stage(store, archive)
    before = _objects(store, "scones")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated"):
        stage(store, cut)
    assert _objects(store, "scones") == before
    assert list((store.settings.home / "tmp").iterdir()) == []  # the build folder was cleaned up


def test_local_file_with_the_official_name_is_checked(store: Store, tmp_path: Path, dev_archive: Path) -> None:
    fake = tmp_path / OFFICIAL_NAME
    fake.write_bytes(dev_archive.read_bytes())
    with pytest.raises(DataError, match="md5 is not the official eb9058c3a382ffc7106e4002c42a8d85"):
        stage(store, fake)


def test_folder_labels_need_enough_classes(store: Store, tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "train" / "a.png")
    (tmp_path / "train.lst").write_text("0\t2\ta.png\n")
    with pytest.raises(DataError, match="label 2 but only 2 classes were given"):
        stage(store, tmp_path)
    result = stage(store, tmp_path, classes=["a", "b", "c"])
    assert result.counts == {"train": 1}


def test_stage_from_url(store: Store, tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz", per_class=20)
    with serve(Site(files={"/dev.tar.gz": archive.read_bytes()})) as site:
        site.drop_after = [100_000]  # the first transfer breaks off; the retry resumes it
        result = stage(store, f"{site.url}/dev.tar.gz")
        assert result.counts == {"train": 40, "test": 2}
        assert result.source == f"{site.url}/dev.tar.gz"
        assert result.source_md5 == hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
        assert [r for _, r in site.requests] == [None, "bytes=100000-"]
        assert not stage(store, f"{site.url}/dev.tar.gz").changed
        assert len(site.requests) == 2  # the second run used the cached download


def test_url_with_the_official_name_must_match_the_official_md5(store: Store, dev_archive: Path) -> None:
    with serve(Site(files={f"/{OFFICIAL_NAME}": dev_archive.read_bytes()})) as site:
        with pytest.raises(DownloadError, match="expected eb9058c3a382ffc7106e4002c42a8d85"):
            stage(store, f"{site.url}/{OFFICIAL_NAME}")
    assert list(store.list("scones")) == []
    assert json.dumps([p.name for p in (store.settings.home / "downloads").rglob("*") if p.is_file()]) == "[]"


def test_a_bad_download_is_dropped_and_fetched_afresh(store: Store, tmp_path: Path) -> None:
    with serve(Site(files={"/a.tar.gz": b"this is not a tar archive" * 100})) as site:
        with pytest.raises(DataError, match="not a readable tar archive"):
            stage(store, f"{site.url}/a.tar.gz")
        assert [p for p in (store.settings.home / "downloads").rglob("*") if p.is_file()] == []
        site.files["/a.tar.gz"] = _archive(tmp_path / "a.tar.gz").read_bytes()
        assert stage(store, f"{site.url}/a.tar.gz").counts == {"train": 8, "test": 2}
        with pytest.raises(DataError, match="Unknown class"):  # a good download is kept on other errors
            stage(store, f"{site.url}/a.tar.gz", classes=["nope"])
        assert len([p for p in (store.settings.home / "downloads").rglob("*") if p.is_file()]) == 1
