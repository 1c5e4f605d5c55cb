"""`stage`: turn a CIFAR-100 archive, an image folder, a .lst folder or an augmented manifest into a dataset.

What the seed's notebook did by hand: fetch CIFAR-100, keep the chosen fine classes, save
each row as a 32x32 PNG under train/ and test/, write train.lst/test.lst (reference
section 2) and upload. Your own images (`scones.data.sources`) are copied as they are, any
size, a JPEG never re-encoded, after every file was checked and hashed (`scones.data.scan`):
bad files and train/test duplicates stop staging before anything is written. The dataset is
built in a temporary folder, then synced to the store with manifest.json written last: the
manifest marks a complete dataset, so a reader never sees a half-written one. Re-staging the
same source writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from scones.data import cifar
from scones.data.build import StageOptions, build_from_listing
from scones.data.dataset import LstEntry, format_lst
from scones.data.download import download, file_md5
from scones.data.png import write_pngs
from scones.data.sources import (
    from_augmented_manifest,
    from_image_folder,
    from_lst_folder,
    is_augmented_manifest,
    is_image_folder,
)
from scones.errors import DataError
from scones.keys import join_key, s3_uri, validate_bucket, validate_prefix
from scones.progress import NullProgress, Progress
from scones.storage import Store

__all__ = ["DEFAULT_CLASSES", "DEFAULT_SOURCE", "SPLITS", "StageOptions", "StageResult", "archive_classes", "stage"]

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
DEFAULT_CLASSES = ("bicycle", "motorcycle")
SPLITS = cifar.SPLITS


@dataclass(frozen=True)
class StageResult:
    """What staging did.

    Attributes:
        uri: where the dataset is, e.g. "s3://scones/data".
        classes: class names; label i is classes[i].
        counts: images per split, e.g. {"train": 900, "test": 100}.
        uploaded: objects written; unchanged: objects already up to date; removed: stale
            objects deleted (left by an earlier staging with other classes or source).
        source, source_md5: what was staged, and its fingerprint.
        notes: what a person should know: files skipped as bad, duplicates within a split.
    """

    uri: str
    classes: tuple[str, ...]
    counts: dict[str, int]
    uploaded: int
    unchanged: int
    removed: int
    source: str
    source_md5: str
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.uploaded or self.removed)

    def summary(self) -> str:
        splits = " + ".join(f"{n} {s}" for s, n in self.counts.items())
        names = self.classes if len(self.classes) <= 6 else (*self.classes[:3], "...", self.classes[-1])
        what = f"{splits} images of {', '.join(names)}"
        what += f" ({len(self.classes)} classes)" if len(self.classes) > 6 else ""
        if not self.changed:
            return f"Nothing to do: {self.uri} already holds {what} ({self.unchanged} objects up to date)"
        removed = f", {self.removed} stale removed" if self.removed else ""
        return f"Staged {what} to {self.uri} ({self.uploaded} objects written, {self.unchanged} unchanged{removed})"


def stage(
    store: Store,
    source: str | Path,
    *,
    classes: Sequence[str] | None = None,
    bucket: str | None = None,
    prefix: str = "data",
    progress: Progress | None = None,
    options: StageOptions | None = None,
) -> StageResult:
    """Stage `classes` from `source` into `s3://<bucket>/<prefix>` on `store`.

    Args:
        source: a CIFAR-100 python archive (http(s) URL or local path); an image folder
            (`<class>/*.jpg`, optionally under train/ and test/); a folder with train.lst and/or
            test.lst and the images they list; or a SageMaker augmented manifest (`.manifest` or
            `.jsonl`, local or `s3://` in the store).
        classes: labels 0..k-1 in this order. For the archive, CIFAR-100 fine label names
            (default bicycle, motorcycle); for an image folder, class folder names (default: all,
            sorted); for a .lst folder, one name per label (default bicycle, motorcycle).
        bucket: default: the configured bucket. prefix: key prefix (default "data").
        options: test split, bad files and leaks of folder and manifest sources.

    Raises:
        DataError (DownloadError) naming the problem; nothing is half-written.
    """
    progress = progress or NullProgress()
    options = options or StageOptions()
    bucket = validate_bucket(bucket or store.settings.bucket)
    prefix = validate_prefix(prefix)
    names = None if classes is None else _check_classes(classes)
    work = store.settings.home / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stage-", dir=work) as tmp:
        build = Path(tmp) / "dataset"
        build.mkdir()
        if is_augmented_manifest(str(source)):
            listing = from_augmented_manifest(
                store,
                _manifest_location(source),
                names,
                label_attribute=options.label_attribute,
                test_fraction=options.test_fraction,
                seed=options.seed,
            )
            label = str(source)
            manifest = build_from_listing(listing, build, options, progress, given=names is not None)
        else:
            label, path, downloaded = _locate(source, store, progress)
            if is_image_folder(path):
                listing = from_image_folder(path, names, test_fraction=options.test_fraction, seed=options.seed)
                manifest = build_from_listing(listing, build, options, progress, given=names is not None)
            elif path.is_dir():
                listing = from_lst_folder(path, names or DEFAULT_CLASSES)
                manifest = build_from_listing(listing, build, options, progress, given=names is not None)
            else:
                data = _read(path, downloaded, progress)
                manifest = _from_archive(data, path.name, names or DEFAULT_CLASSES, build, progress)
        manifest = {**manifest, "source": label}
        return _publish(store, build, manifest, bucket, prefix, progress)


def archive_classes(
    store: Store, source: str | Path, progress: Progress | None = None, *, with_images: bool = False
) -> list[str]:
    """The fine label names of the CIFAR-100 archive at `source` (a local file, or a URL downloaded once).

    with_images: only the names with training images (a subset archive keeps the official meta's 100 names).
    """
    progress = progress or NullProgress()
    _, path, downloaded = _locate(source, store, progress)
    if path.is_dir():
        raise DataError(f"{source} is a folder, not a CIFAR-100 python archive; give the archive (.tar.gz)")
    data = _read(path, downloaded, progress)
    if not with_images:
        return list(data.fine_label_names)
    train = data.splits.get("train")
    present = set(train.fine_labels.tolist()) if train is not None else set()
    return [name for i, name in enumerate(data.fine_label_names) if i in present]


def _manifest_location(source: str | Path) -> str:
    text = str(source)
    if text.startswith("s3://"):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise DataError(f"No augmented manifest at {text}; give a JSON Lines file (.manifest or .jsonl)")
    return str(path.resolve())


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    names = tuple(c.strip() for c in classes if c.strip())
    if not names:
        raise DataError("No classes given; pass CIFAR-100 fine label names, e.g. --classes bicycle,motorcycle")
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise DataError(f"Class {', '.join(duplicates)} given twice; list each class once")
    return names


def _locate(source: str | Path, store: Store, progress: Progress) -> tuple[str, Path, bool]:
    """(the source as recorded in the manifest, a local archive file or folder, whether downloaded)."""
    text = str(source)
    scheme = urlparse(text).scheme.lower()
    if scheme in ("http", "https"):
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(urlparse(text).path).name).lstrip(".") or "download"
        # One cache folder per URL, so two URLs with the same file name never collide.
        cache = store.settings.home / "downloads" / hashlib.sha256(text.encode()).hexdigest()[:16] / name
        md5 = cifar.OFFICIAL_MD5 if name == cifar.OFFICIAL_NAME else None
        if cache.is_file() and (md5 is None or file_md5(cache) == md5):
            logger.info("using cached download %s", cache)
        else:
            download(text, cache, md5=md5, progress=progress)
        return text, cache, True
    if len(scheme) > 1:  # one letter is a Windows drive
        raise DataError(f"Unsupported source {text!r}; give an http(s) URL, a local archive or an image folder")
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(
            f"No source at {text}; give a CIFAR-100 python archive (.tar.gz), an image folder (<class>/*.jpg), "
            "a folder with train.lst/test.lst, an augmented manifest (.manifest) or a URL"
        )
    if path.is_file() and path.name == cifar.OFFICIAL_NAME and file_md5(path) != cifar.OFFICIAL_MD5:
        raise DataError(
            f"{text} is named {cifar.OFFICIAL_NAME} but its md5 is not the official {cifar.OFFICIAL_MD5}; "
            "it is corrupt or altered: download it again"
        )
    return str(path.resolve()), path, False


def _read(path: Path, downloaded: bool, progress: Progress) -> cifar.Cifar:
    try:
        return cifar.read_archive(path, progress)
    except DataError:
        if downloaded:  # a bad download is dropped, so the next run fetches it afresh
            path.unlink(missing_ok=True)
        raise


def _from_archive(
    data: cifar.Cifar, name: str, classes: tuple[str, ...], build: Path, progress: Progress
) -> dict[str, Any]:
    unknown = [c for c in classes if c not in data.fine_label_names]
    if unknown:
        raise DataError(
            f"Unknown class {', '.join(map(repr, unknown))}; valid CIFAR-100 fine labels: "
            + ", ".join(data.fine_label_names)
        )
    fine = np.array([data.fine_label_names.index(c) for c in classes], dtype=np.int64)
    to_label = np.full(len(data.fine_label_names), -1, dtype=np.int64)
    to_label[fine] = np.arange(len(fine))  # fine label -> position in `classes`
    # Rows in ascending archive order, as in the seed's .lst files.
    selected = {s: np.flatnonzero(np.isin(b.fine_labels, fine)) for s, b in data.splits.items()}
    if not any(len(rows) for rows in selected.values()):
        held = np.unique(np.concatenate([b.fine_labels for b in data.splits.values()]))
        raise DataError(
            f"{name} has no images of {', '.join(classes)} (it holds "
            f"{', '.join(data.fine_label_names[i] for i in held) or 'none'}); choose other --classes "
            "or stage the full CIFAR-100 archive"
        )
    counts: dict[str, int] = {}
    class_counts: dict[str, dict[str, int]] = {}
    for split, batch in data.splits.items():
        rows = selected[split]
        labels = to_label[batch.fine_labels[rows]]
        names = _unique_names([batch.filenames[r] for r in rows], rows)
        entries = [LstEntry(int(r), int(lab), n) for r, lab, n in zip(rows, labels, names, strict=True)]
        _write_split(build, split, batch.images(rows), entries, progress)
        counts[split] = len(entries)
        class_counts[split] = {c: int(np.sum(labels == i)) for i, c in enumerate(classes)}
    return {
        "classes": list(classes),
        "label_order": "label i is classes[i], the CIFAR-100 fine labels in the order given",
        "layout": "cifar archive",
        "counts": counts,
        "class_counts": class_counts,
        "fine_labels": fine.tolist(),
        "source_md5": data.md5,
    }


def _unique_names(names: list[str], rows: np.ndarray) -> list[str]:
    """CIFAR names are not guaranteed unique; a repeat gets its row number so no PNG overwrites another."""
    seen: set[str] = set()
    unique = []
    for name, row in zip(names, rows, strict=True):
        if name in seen:
            renamed = f"{name.removesuffix('.png')}-row{int(row)}.png"
            logger.warning("duplicate CIFAR file name %s at row %d; staged as %s", name, row, renamed)
            name = renamed
        seen.add(name)
        unique.append(name)
    return unique


def _write_split(build: Path, split: str, images: np.ndarray, entries: list[LstEntry], progress: Progress) -> None:
    folder = f"{build}/{split}"
    paths = [f"{folder}/{e.path}" for e in entries]  # plain strings: 60,000 Path objects cost seconds
    for parent in {os.path.dirname(p) for p in paths} | {folder}:
        os.makedirs(parent, exist_ok=True)
    progress.start(f"Writing {split} PNGs", len(paths))
    write_pngs(images, paths, progress)
    (build / f"{split}.lst").write_text(format_lst(entries), encoding="utf-8")


def _publish(
    store: Store, build: Path, manifest: dict[str, Any], bucket: str, prefix: str, progress: Progress
) -> StageResult:
    """Sync PNGs and .lst files, drop stale objects, then write manifest.json (the completion mark)."""
    manifest_key = join_key(prefix, "manifest.json")
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    old = store.get(bucket, manifest_key) if store.exists(bucket, manifest_key) else None
    if old is not None and old != body:
        store.delete(bucket, manifest_key)  # the dataset is about to change: unmark it first
    base = f"{prefix}/" if prefix else ""
    ours = tuple(f"{base}{split}{end}" for split in SPLITS for end in ("/", ".lst"))
    wanted = {f"{base}{name}" for name in _files(build)}
    stale = [o.key for o in store.list(bucket, prefix) if o.key.startswith(ours) and o.key not in wanted]
    synced = store.sync(build, bucket, prefix, progress, move=True)  # build is discarded: files may move
    for key in stale:  # objects of an earlier staging: other classes, or a split this source lacks
        store.delete(bucket, key)
    if old != body:
        store.put(bucket, manifest_key, body)
    return StageResult(
        uri=s3_uri(bucket, prefix),
        classes=tuple(manifest["classes"]),
        counts=dict(manifest["counts"]),
        uploaded=synced.uploaded + (old != body),
        unchanged=synced.unchanged + (old == body),
        removed=len(stale),
        source=manifest["source"],
        source_md5=manifest["source_md5"],
        notes=_notes(manifest),
    )


def _notes(manifest: dict[str, Any]) -> tuple[str, ...]:
    notes = [f"skipped {s['file']}: {s['reason']}" for s in manifest.get("skipped", [])]
    notes += [
        f"duplicate within a split: {' = '.join(g)}" for g in manifest.get("duplicates", {}).get("within_split", [])
    ]
    notes += [
        f"in train and test (--allow-leak): {' = '.join(g)}"
        for g in manifest.get("duplicates", {}).get("across_splits", [])
    ]
    return tuple(notes)


def _files(root: Path) -> list[str]:
    """Relative paths ("train/a.png") of the files under root."""
    found = []
    for folder, _, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        found += [name if relative == "." else f"{relative}/{name}" for name in names]
    return found
