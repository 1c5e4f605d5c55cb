"""Staging your own images: image folders, .lst folders of any size, augmented manifests (through `stage`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.data.dataset import read_manifest, read_split
from scones.data.stage import StageOptions, stage
from scones.errors import DataError
from scones.storage import Store
from tests.data.photos import cifar_rows, imbalanced_folder, jpeg, png, truncated

COUNTS = {"ant": 20, "bee": 10, "cat": 5, "dog": 3, "elk": 2}  # five classes, imbalanced


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return imbalanced_folder(tmp_path / "photos", COUNTS)


def _split_layout(root: Path) -> Path:
    rows = cifar_rows(8, seed=9)
    for i, (split, name) in enumerate([(s, c) for s in ("train", "test") for c in ("cat", "dog") for _ in range(2)]):
        (root / split / name).mkdir(parents=True, exist_ok=True)
        (root / split / name / f"{i}.jpg").write_bytes(jpeg(rows[i], (96, 96)))
    return root


def test_image_folder_with_a_stratified_seeded_hold_out(store: Store, folder: Path) -> None:
    result = stage(store, folder)
    assert result.classes == tuple(COUNTS) and result.counts == {"train": 32, "test": 8}
    manifest = read_manifest(store, "s3://scones/data")
    assert manifest["class_counts"]["test"] == {"ant": 4, "bee": 2, "cat": 1, "dog": 1, "elk": 0}
    assert manifest["class_counts"]["train"] == {"ant": 16, "bee": 8, "cat": 4, "dog": 2, "elk": 2}
    assert manifest["label_order"] == "label i is classes[i], class folders sorted by name"
    assert manifest["layout"] == "folders" and manifest["formats"]["train"] == {"JPEG": 32}
    assert manifest["image_sizes"]["train"]["common"] == {"160x120": 18, "96x96": 14}  # all 40: 20 of each
    assert manifest["image_sizes"]["train"]["width"] == {"min": 96, "median": 160, "max": 160}
    test_lst = store.get("scones", "data/test.lst").decode()
    again = Store(store.settings.__class__(home=store.settings.home.parent / "again"))
    stage(again, folder)
    assert again.get("scones", "data/test.lst").decode() == test_lst  # same seed, same split
    other = stage(store, folder, options=StageOptions(seed=1))
    assert other.changed and store.get("scones", "data/test.lst").decode() != test_lst


def test_files_are_kept_as_they_are_and_read_at_any_size(store: Store, folder: Path) -> None:
    stage(store, folder, options=StageOptions(test_fraction=0))
    lst = store.get("scones", "data/train.lst").decode().splitlines()
    assert lst[0] == "0\t0\tant/ant_000.jpg" and len(lst) == 40 and not store.exists("scones", "data/test.lst")
    for line in lst[::7]:
        path = line.split("\t")[2]
        assert store.get("scones", f"data/train/{path}") == (folder / path).read_bytes()  # no re-encoding
    split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    assert split.images.shape == (40, 32, 32, 3) and split.labels.tolist()[-2:] == [4, 4]


def test_train_and_test_folders_are_used_as_they_are(store: Store, tmp_path: Path) -> None:
    result = stage(store, _split_layout(tmp_path / "split"), options=StageOptions(test_fraction=0.5))
    assert result.counts == {"train": 4, "test": 4}
    assert read_manifest(store, "s3://scones/data")["layout"] == "split folders"


def test_classes_choose_and_order(store: Store, folder: Path) -> None:
    result = stage(store, folder, classes=["dog", "ant"])
    assert result.classes == ("dog", "ant") and sum(result.counts.values()) == 23
    manifest = read_manifest(store, "s3://scones/data")
    assert manifest["label_order"] == "label i is classes[i], as given by --classes"
    assert store.get("scones", "data/train.lst").decode().startswith("0\t0\tdog/")
    with pytest.raises(DataError, match="Unknown class 'cow'; .* has ant, bee, cat, dog, elk"):
        stage(store, folder, classes=["cow", "ant"])


@pytest.mark.parametrize("count", [1, 1001])
def test_two_to_a_thousand_classes(store: Store, tmp_path: Path, count: int) -> None:
    for i in range(count):
        (tmp_path / "many" / f"c{i:04d}").mkdir(parents=True)
    with pytest.raises(DataError, match=f"has {count} class(es)?; scones trains on 2 to 1000 classes"):
        stage(store, tmp_path / "many")


def test_bad_files_stop_staging_before_anything_is_written(store: Store, folder: Path) -> None:
    good = (folder / "cat" / "cat_000.jpg").read_bytes()
    (folder / "cat" / "broken.jpg").write_bytes(truncated(good))
    (folder / "dog" / "notes.png").write_bytes(b"not an image")
    with pytest.raises(
        DataError,
        match=r"2 bad image files: .*cat/broken.jpg: truncated or corrupt .*dog/notes.png: "
        r"not an image; .*--skip-bad to stage without them .nothing was written",
    ):
        stage(store, folder)
    assert list(store.list("scones")) == []
    result = stage(store, folder, options=StageOptions(skip_bad=True))
    assert sum(result.counts.values()) == 40
    assert any("broken.jpg: truncated" in note for note in result.notes)
    skipped = read_manifest(store, "s3://scones/data")["skipped"]
    assert [Path(s["file"]).name for s in skipped] == ["broken.jpg", "notes.png"]


def test_grayscale_rgba_and_exif_rotated_files_stage_and_read(store: Store, folder: Path) -> None:
    (folder / "elk" / "gray.png").write_bytes(png(Image.new("L", (50, 40), 90)))
    (folder / "elk" / "clear.png").write_bytes(png(Image.new("RGBA", (40, 40), (1, 2, 3, 0))))
    (folder / "elk" / "turned.jpg").write_bytes(jpeg(cifar_rows(1, seed=8)[0], (160, 120), orientation=6))
    stage(store, folder, options=StageOptions(test_fraction=0))
    manifest = read_manifest(store, "s3://scones/data")
    assert manifest["formats"]["train"] == {"JPEG": 41, "PNG": 2}
    assert manifest["image_sizes"]["train"]["common"]["120x160"] == 1  # as shown, not as stored
    split = read_split(store, "s3://scones/data/train", "s3://scones/data/train.lst")
    by_name = dict(zip(split.names, split.images, strict=True))
    assert np.array_equal(by_name["elk/gray.png"], np.full((32, 32, 3), 90))
    assert np.array_equal(by_name["elk/clear.png"], np.full((32, 32, 3), 255))


def test_duplicates_across_splits_are_refused_unless_allowed(store: Store, tmp_path: Path) -> None:
    root = _split_layout(tmp_path / "split")
    (root / "test" / "cat" / "copy.jpg").write_bytes((root / "train" / "cat" / "0.jpg").read_bytes())
    with pytest.raises(
        DataError,
        match=r"1 image is in both train and test: test/cat/copy.jpg = train/cat/0.jpg; "
        r"a leak .*--allow-leak",
    ):
        stage(store, root)
    assert list(store.list("scones")) == []
    result = stage(store, root, options=StageOptions(allow_leak=True))
    assert result.counts == {"train": 4, "test": 5}
    assert read_manifest(store, "s3://scones/data")["duplicates"]["across_splits"] == [
        ["test/cat/copy.jpg", "train/cat/0.jpg"]
    ]


def test_duplicates_within_a_split_are_reported(store: Store, folder: Path) -> None:
    (folder / "ant" / "again.jpg").write_bytes((folder / "ant" / "ant_001.jpg").read_bytes())
    result = stage(store, folder, options=StageOptions(test_fraction=0))
    assert result.notes == ("duplicate within a split: train/ant/again.jpg = train/ant/ant_001.jpg",)
    assert "duplicate within a split" in result.summary() or result.notes  # the CLI prints the notes


def test_lst_folder_of_any_size(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "export"
    (root / "train").mkdir(parents=True)
    rows = cifar_rows(3, seed=4)
    for i in range(3):
        (root / "train" / f"{i}.jpg").write_bytes(jpeg(rows[i], (160, 120)))
    (root / "train.lst").write_text("10\t0\t0.jpg\n11\t1\t1.jpg\n12\t2\t2.jpg\n")
    result = stage(store, root, classes=["a", "b", "c"])
    assert result.counts == {"train": 3}
    assert store.get("scones", "data/train.lst") == (root / "train.lst").read_bytes()
    assert store.get("scones", "data/train/1.jpg") == (root / "train" / "1.jpg").read_bytes()
    assert read_manifest(store, "s3://scones/data")["image_sizes"]["train"]["common"] == {"160x120": 3}


def _augmented(store: Store, tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    rows = cifar_rows(10, seed=6)
    for i in range(10):
        store.put("photos", f"day1/{i}.jpg", jpeg(rows[i], (96, 96)))
    manifest = tmp_path / "train.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def test_augmented_manifest_with_class_indexes(store: Store, tmp_path: Path) -> None:
    lines: list[dict[str, object]] = [
        {"source-ref": f"s3://photos/day1/{i}.jpg", "class": str(i % 2)} for i in range(10)
    ]
    source = _augmented(store, tmp_path, lines)
    result = stage(store, source, classes=["bicycle", "motorcycle"], options=StageOptions(test_fraction=0.2))
    assert result.counts == {"train": 8, "test": 2} and result.classes == ("bicycle", "motorcycle")
    assert store.get("scones", "data/train/bicycle/0.jpg") == store.get("photos", "day1/0.jpg")
    manifest = read_manifest(store, "s3://scones/data")
    assert manifest["layout"] == "augmented manifest" and manifest["source"] == str(source)
    store.put("photos", "lists/all.manifest", source.read_bytes())  # the manifest itself may be in the store
    assert stage(store, "s3://photos/lists/all.manifest").classes == ("0", "1")


def test_augmented_manifest_with_a_named_label_attribute(store: Store, tmp_path: Path) -> None:
    lines: list[dict[str, object]] = [
        {"source-ref": f"s3://photos/day1/{i}.jpg", "kind": "van" if i < 5 else "bike"} for i in range(10)
    ]
    source = _augmented(store, tmp_path, lines)
    with pytest.raises(DataError, match="line 1 has no label attribute 'class'; .*--label-attribute"):
        stage(store, source)
    result = stage(store, source, options=StageOptions(label_attribute="kind", test_fraction=0))
    assert result.classes == ("bike", "van") and result.counts == {"train": 10}


def test_augmented_manifest_bad_lines_and_missing_objects(store: Store, tmp_path: Path) -> None:
    source = _augmented(store, tmp_path, [{"source-ref": "s3://photos/day1/0.jpg", "class": 0}])
    source.write_text(source.read_text() + "{not json\n")
    with pytest.raises(DataError, match="train.manifest line 2 is not JSON"):
        stage(store, source)
    lines: list[dict[str, object]] = [{"source-ref": f"s3://photos/day1/{i}.jpg", "class": i % 2} for i in range(12)]
    source = _augmented(store, tmp_path, lines)  # day1/10.jpg and 11.jpg do not exist
    with pytest.raises(DataError, match=r"2 bad image files: s3://photos/day1/10.jpg: unreadable \(No object"):
        stage(store, source)
    with pytest.raises(DataError, match="No augmented manifest at"):
        stage(store, tmp_path / "nope.manifest")


def test_augmented_manifest_on_s3(s3_store: Store, tmp_path: Path) -> None:
    bucket = s3_store.settings.bucket
    rows = cifar_rows(6, seed=12)
    for i in range(6):
        s3_store.put(bucket, f"photos/{i}.jpg", jpeg(rows[i], (160, 120)))
    lines = "".join(
        json.dumps({"source-ref": f"s3://{bucket}/photos/{i}.jpg", "class": i % 3}) + "\n" for i in range(6)
    )
    s3_store.put(bucket, "lists/all.manifest", lines.encode())
    result = stage(
        s3_store, f"s3://{bucket}/lists/all.manifest", classes=["x", "y", "z"], options=StageOptions(test_fraction=0)
    )
    assert result.counts == {"train": 6} and result.uri == f"s3://{bucket}/data"
    assert s3_store.get(bucket, "data/train/y/1.jpg") == s3_store.get(bucket, "photos/1.jpg")
    split = read_split(s3_store, f"s3://{bucket}/data/train", f"s3://{bucket}/data/train.lst", size=(24, 24))
    assert split.images.shape == (6, 24, 24, 3) and split.labels.tolist() == [0, 1, 2, 0, 1, 2]  # the manifest's order


def test_class_names_that_cannot_name_a_folder_are_refused(store: Store, tmp_path: Path) -> None:
    lines: list[dict[str, object]] = [
        {"source-ref": f"s3://photos/day1/{i}.jpg", "class": "../up" if i < 5 else "bike"} for i in range(10)
    ]
    with pytest.raises(DataError, match="Class name '../up' in .*train.manifest cannot name a folder"):
        stage(store, _augmented(store, tmp_path, lines))
    assert not store.exists("scones", "data/manifest.json")
