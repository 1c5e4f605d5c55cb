"""The sources of your own images, each turned into one list of `Candidate`s (split, label, file).

- an image folder: `root/<class>/*.jpg|png|...`, or `root/train/<class>/...` (+ `root/test/<class>/...`);
  without train/ and test/ a stratified, seeded `test_fraction` of each class is held out;
- a folder with `train.lst`/`test.lst` (reference section 2) and the images they list, any size;
- a SageMaker augmented manifest (JSON Lines `{"source-ref": "s3://...", "<label attribute>": ...}`),
  a local file or an object in the store, whose source-refs are objects in the store.

Nothing is read here but names and label lists: `scones.data.scan` reads the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scones.data.dataset import parse_lst
from scones.data.images import SUFFIXES
from scones.errors import DataError, InvalidKey
from scones.keys import parse_s3_uri
from scones.storage import Store

SPLITS = ("train", "test")
MIN_CLASSES, MAX_CLASSES = 2, 1000
MANIFEST_SUFFIXES = (".manifest", ".jsonl")
Row = tuple[int, str, str]  # (label, path in the split folder, where it is read from)


@dataclass(frozen=True)
class Candidate:
    """One image to stage: where it goes (`split`/`path`, with `label`) and how to read its bytes."""

    split: str
    label: int
    path: str  # relative to the split folder, as the .lst lists it
    origin: str  # what a message names: the source file or source-ref
    read: Callable[[], bytes]
    index: int | None = None  # the .lst index a .lst source gave; others are numbered when written


@dataclass(frozen=True)
class Listing:
    """What a source holds: its candidates, the class names (label i is classes[i]) and how it was split."""

    classes: tuple[str, ...]
    candidates: list[Candidate]
    layout: str  # "folders", "split folders", "lst" or "augmented manifest"


def check_class_count(classes: Sequence[str], where: str) -> None:
    """2 to 1,000 classes, each usable as a folder name (class names become `<split>/<class>/` keys)."""
    unsafe = [c for c in classes if c in ("", ".", "..") or "/" in c or "\\" in c or c != c.strip()]
    if unsafe:
        raise DataError(
            f"Class name {unsafe[0]!r} in {where} cannot name a folder; use names without slashes, '.' or '..'"
        )
    if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
        raise DataError(
            f"{where} has {len(classes)} class{'es' if len(classes) != 1 else ''}; scones trains on "
            f"{MIN_CLASSES} to {MAX_CLASSES} classes: add class folders or choose others with --classes"
        )


def is_image_folder(folder: Path) -> bool:
    return folder.is_dir() and not any((folder / f"{s}.lst").is_file() for s in SPLITS)


def from_image_folder(folder: Path, classes: Sequence[str] | None, *, test_fraction: float, seed: int) -> Listing:
    """Candidates of an image folder; classes default to its class folders in sorted order."""
    subfolders = _subfolders(folder)
    split_layout = "train" in subfolders and set(subfolders) <= set(SPLITS)
    roots = {s: folder / s for s in SPLITS if s in subfolders} if split_layout else {"train": folder}
    found = sorted({c for root in roots.values() for c in _subfolders(root)})
    if not found:
        raise DataError(
            f"{folder} has no class folders and no train.lst or test.lst; put images in <class>/ folders "
            "(optionally under train/ and test/), or give a CIFAR-100 python archive"
        )
    names = _choose(found, classes, folder)
    by_split: dict[str, list[Row]] = {}
    for split, root in roots.items():
        by_split[split] = [
            (label, f"{name}/{rel}", str(root / name / rel))
            for label, name in enumerate(names)
            for rel in _images(root / name)
        ]
    if not any(by_split.values()):
        raise DataError(
            f"{folder} has no images under its class folders ({', '.join(names)}); "
            f"put {', '.join(SUFFIXES)} files in <class>/ folders"
        )
    if not split_layout:
        by_split = _hold_out(by_split["train"], len(names), test_fraction, seed)
    candidates = [
        Candidate(split, label, rel, path, Path(path).read_bytes)
        for split, rows in by_split.items()
        for label, rel, path in rows
    ]
    return Listing(names, candidates, "split folders" if split_layout else "folders")


def from_lst_folder(folder: Path, classes: Sequence[str]) -> Listing:
    """Candidates of a folder with train.lst/test.lst: each split's images as listed, any size."""
    candidates: list[Candidate] = []
    for split in SPLITS:
        lst = folder / f"{split}.lst"
        if not lst.is_file():
            continue
        entries = parse_lst(lst.read_text(encoding="utf-8"), str(lst))
        if not entries:
            raise DataError(f"{lst} lists no images; add lines 'index<TAB>label<TAB>path' or remove the file")
        top = max(e.label for e in entries)
        if top >= len(classes):
            raise DataError(
                f"{lst} has label {top} but only {len(classes)} classes were given ({', '.join(classes)}); "
                "pass one name per label with --classes"
            )
        candidates += [
            Candidate(
                split, e.label, e.path, str(folder / split / e.path), (folder / split / e.path).read_bytes, e.index
            )
            for e in entries
        ]
    return Listing(tuple(classes), candidates, "lst")


def is_augmented_manifest(source: str) -> bool:
    return source.lower().endswith(MANIFEST_SUFFIXES)


def from_augmented_manifest(
    store: Store,
    source: str,
    classes: Sequence[str] | None,
    *,
    label_attribute: str,
    test_fraction: float,
    seed: int,
) -> Listing:
    """Candidates of a SageMaker augmented manifest; labels are class indexes, or names in `classes`."""
    text = _read_text(store, source)
    rows: list[tuple[str, str]] = []  # (source-ref, label as written)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_manifest_row(line, number, source, label_attribute))
    if not rows:
        raise DataError(f"{source} lists no images; write one JSON object per line with a source-ref")
    written = [label for _, label in rows]
    if all(label.isdigit() for label in written):
        count = max(int(label) for label in written) + 1
        names = tuple(classes) if classes is not None else tuple(str(i) for i in range(count))
        if count > len(names):
            raise DataError(
                f"{source} has label {count - 1} but only {len(names)} classes were given ({', '.join(names)}); "
                "pass one name per label with --classes"
            )
        labels = [int(label) for label in written]
    else:
        names = _choose(sorted(set(written)), classes, Path(source))
        labels = [names.index(label) if label in names else -1 for label in written]
    check_class_count(names, source)
    picked = [(label, ref) for label, (ref, _) in zip(labels, rows, strict=True) if label >= 0]
    paths = _unique_paths([f"{names[label]}/{ref.rsplit('/', 1)[-1]}" for label, ref in picked])
    listed = [(label, path, ref) for (label, ref), path in zip(picked, paths, strict=True)]
    by_split = _hold_out(listed, len(names), test_fraction, seed)
    candidates = [
        Candidate(split, label, path, ref, _object_reader(store, ref))
        for split, items in by_split.items()
        for label, path, ref in items
    ]
    return Listing(names, candidates, "augmented manifest")


def _manifest_row(line: str, number: int, source: str, attribute: str) -> tuple[str, str]:
    where = f"{source} line {number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where} is not JSON ({exc.msg}); write one JSON object per line") from exc
    if not isinstance(row, dict) or not isinstance(row.get("source-ref"), str):
        raise DataError(f'{where} has no "source-ref" string; each line needs the image\'s s3:// URI')
    label = row.get(attribute)
    if isinstance(label, bool) or not isinstance(label, (int, str)) or str(label).strip() == "":
        raise DataError(
            f"{where} has no label attribute {attribute!r}; name the attribute that holds the class "
            "with --label-attribute"
        )
    if isinstance(label, int) and label < 0:
        raise DataError(f"{where} has label {label}; labels are class indexes from 0 or class names")
    ref = row["source-ref"]
    if not ref.startswith("s3://"):
        raise DataError(f"{where} has source-ref {ref!r}; source-refs are s3://bucket/key URIs of the store")
    try:
        parse_s3_uri(ref)
    except InvalidKey as exc:
        raise DataError(f"{where}: {exc}") from exc
    return ref, str(label).strip()


def _object_reader(store: Store, uri: str) -> Callable[[], bytes]:
    bucket, key = parse_s3_uri(uri)
    return lambda: store.get(bucket, key)


def _read_text(store: Store, source: str) -> str:
    try:
        data = store.get(*parse_s3_uri(source)) if source.startswith("s3://") else Path(source).read_bytes()
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source} is not UTF-8 text; give a JSON Lines augmented manifest") from exc
    except OSError as exc:
        raise DataError(f"Cannot read the augmented manifest {source} ({exc}); check the location") from exc


def _choose(found: Sequence[str], classes: Sequence[str] | None, where: Path) -> tuple[str, ...]:
    """The class names: `classes` (each must be found) in their order, else everything found, sorted."""
    if classes is None:
        names = tuple(found)
    else:
        unknown = [c for c in classes if c not in found]
        if unknown:
            raise DataError(
                f"Unknown class {', '.join(map(repr, unknown))}; {where} has {', '.join(found) or 'no class folders'}"
            )
        names = tuple(classes)
    check_class_count(names, str(where))
    return names


def _hold_out(rows: list[Row], classes: int, fraction: float, seed: int) -> dict[str, list[Row]]:
    """Per class, a seeded random `fraction` (rounded, at least one image kept for training) goes to test."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(
            f"--test-fraction {fraction} is out of range; give a fraction in [0, 1), e.g. 0.2 (0: no test split)"
        )
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for label in range(classes):
        members = sorted((i for i, row in enumerate(rows) if row[0] == label), key=lambda i: rows[i][1])
        take = min(round(len(members) * fraction), max(len(members) - 1, 0))
        held.update(members[i] for i in rng.permutation(len(members))[:take])
    train = [row for i, row in enumerate(rows) if i not in held]
    test = [row for i, row in enumerate(rows) if i in held]
    return {"train": train, "test": test} if test else {"train": train}


def _subfolders(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    except OSError as exc:
        raise DataError(f"Cannot list {folder} ({exc}); check the folder and its permissions") from exc


def _images(folder: Path) -> list[str]:
    """Image files under folder (recursively), as sorted relative paths; hidden and other files are skipped."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = os.path.relpath(parent, folder)
        found += [
            name if relative == "." else f"{relative}/{name}"
            for name in files
            if not name.startswith(".") and name.lower().endswith(SUFFIXES)
        ]
    return sorted(found)


def _unique_paths(paths: list[str]) -> list[str]:
    """Two source-refs with one file name get a numbered suffix, so no staged file overwrites another."""
    seen: set[str] = set()
    unique = []
    for path in paths:
        stem, dot, suffix = path.rpartition(".")
        candidate, number = path, 1
        while candidate in seen:
            candidate = f"{stem}-{number}{dot}{suffix}" if dot else f"{path}-{number}"
            number += 1
        seen.add(candidate)
        unique.append(candidate)
    return unique
