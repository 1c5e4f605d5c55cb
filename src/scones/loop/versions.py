"""`scones dataset add-reviewed`: a new dataset version = its parent + the reviewed images, with their labels.

The version is laid out as `scones stage` lays out a dataset (reference section 2), so every
reader (training channels, `scones evaluate`) takes it as it is: `train/` + `train.lst` (the
parent's training images, then the reviewed ones under `train/reviewed/<class>/`), `test/` +
`test.lst` (the parent's test split, byte for byte), and one more split, `reviewed-test/` +
`reviewed-test.lst`: a stratified share of the reviewed images, so a candidate is judged on
the traffic it has to serve. manifest.json (written last, it marks a complete dataset) names
the parent and, for every reviewed image, where it came from (eventId, inferenceId, reviewer,
time). An image whose bytes are already in the parent, or twice in the reviews, is added once.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scones import state
from scones.config import Settings
from scones.data.dataset import LstEntry, format_lst, parse_lst, read_manifest
from scones.data.images import decode
from scones.errors import DataError, ObjectNotFound
from scones.keys import join_key, parse_s3_uri, s3_uri, validate_prefix
from scones.loop import table
from scones.progress import NullProgress, Progress
from scones.storage import Store

REVIEWED_TEST = "reviewed-test"
SPLITS = ("train", "test", REVIEWED_TEST)
_SUFFIX = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"BM": ".bmp", b"RIFF": ".webp"}


class ReviewedImage(Protocol):
    """What a version needs of a reviewed item (`scones.review.queue.Reviewed` has it).

    Read-only members, so that a frozen dataclass satisfies it.
    """

    @property
    def id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def inference_id(self) -> str | None: ...
    @property
    def label(self) -> int: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def labelled_at(self) -> str: ...
    @property
    def image(self) -> bytes: ...


@dataclass(frozen=True)
class AddedVersion:
    """What `add_reviewed` staged: where, on top of what, and how many reviewed images went where."""

    uri: str
    parent: str
    classes: list[str]
    counts: dict[str, int]
    added: dict[str, int]  # reviewed images per split ("train", "reviewed-test")
    duplicates: int  # reviewed images dropped: their bytes were in the parent or earlier in the reviews
    skipped: list[dict[str, str]] = field(default_factory=list)  # unreadable ones, with the reason

    def summary(self) -> str:
        splits = " + ".join(f"{n} {s}" for s, n in self.counts.items())
        dropped = f", {self.duplicates} duplicate(s) dropped" if self.duplicates else ""
        skipped = f", {len(self.skipped)} unreadable skipped" if self.skipped else ""
        return (
            f"Staged {self.uri} ({splits}) on top of {self.parent}: {self.added['train']} reviewed image(s) added to "
            f"train, {self.added[REVIEWED_TEST]} to {REVIEWED_TEST}{dropped}{skipped}"
        )


def newest_version(settings: Settings, endpoint: str) -> str | None:
    """The newest dataset version made from `endpoint`'s reviews, or None."""
    made = table.versions(settings, endpoint)
    return made[-1]["uri"] if made else None


def default_into(settings: Settings, parent: str) -> str:
    """The next free version name beside the root dataset: s3://bucket/data -> data-v2, data-v3, ..."""
    bucket, prefix = parse_s3_uri(parent)
    root = prefix.split("-v")[0] if prefix.rsplit("-v", 1)[-1].isdigit() else prefix
    taken = {v["uri"] for v in _all_versions(settings)}
    number = 2
    while s3_uri(bucket, f"{root}-v{number}") in taken:
        number += 1
    return s3_uri(bucket, f"{root}-v{number}")


def _all_versions(settings: Settings) -> list[dict[str, Any]]:
    from contextlib import closing

    with closing(table.connect(settings)) as conn:
        return [dict(r) for r in conn.execute("SELECT uri FROM loop_datasets").fetchall()]


def add_reviewed(
    settings: Settings,
    store: Store,
    endpoint: str,
    items: Sequence[ReviewedImage],
    *,
    parent: str | None = None,
    into: str | None = None,
    test_share: float = 0.2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> AddedVersion:
    """Stage `parent` (default: the endpoint's newest version, else s3://<bucket>/data) + `items` at `into`.

    `classes`, when given, must be the parent's (the model's class order: a label is an index into it).
    Raises DataError naming the problem; nothing is written unless the version is complete.
    """
    progress = progress or NullProgress()
    if not 0.0 <= test_share < 1.0:
        raise DataError(f"--test-share {test_share} is out of range; give a fraction in [0, 1), e.g. 0.2")
    parent = (parent or newest_version(settings, endpoint) or s3_uri(settings.bucket, "data")).rstrip("/")
    into = (into or default_into(settings, parent)).rstrip("/")
    bucket, prefix = _location(into)
    if s3_uri(*_location(parent)) == s3_uri(bucket, prefix):
        raise DataError(f"--into {into} is the parent dataset itself; a version is never changed: give another --into")
    if store.exists(bucket, join_key(prefix, "manifest.json")):
        raise DataError(f"{into} already holds a dataset; versions are never overwritten: give another --into")
    base = read_manifest(store, parent)
    names = [str(c) for c in base["classes"]]
    if classes is not None and list(classes) != names:
        raise DataError(
            f"The endpoint's model knows classes {', '.join(classes)} but {parent} has {', '.join(names)}; "
            "add reviews to a dataset staged with the model's classes (--parent)"
        )
    if not items:
        raise DataError(f"No reviewed images for {endpoint}; label some with 'scones review label' first")
    bad = [i for i in items if not 0 <= int(i.label) < len(names)]
    if bad:
        raise DataError(
            f"Reviewed item {bad[0].id} has label {bad[0].label} but {parent} has {len(names)} classes; "
            "label it again with one of: " + ", ".join(names)
        )
    work = settings.home / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="add-reviewed-", dir=work) as tmp:
        build = Path(tmp)
        lists, seen = _copy_parent(store, parent, build, progress)
        manifest, added, duplicates, skipped = _add_items(items, names, lists, seen, build, test_share, seed, progress)
        counts = {split: len(entries) for split, entries in lists.items() if entries}
        fingerprint = hashlib.md5(usedforsecurity=False)
        for split, entries in lists.items():
            if entries:
                text = format_lst(entries)
                (build / f"{split}.lst").write_text(text, encoding="utf-8")
                fingerprint.update(text.encode())
        fingerprint.update("".join(sorted(seen)).encode())
        body = {
            **{k: v for k, v in base.items() if k not in ("provenance", "reviewed", "skipped", "duplicates")},
            "layout": "reviewed",
            "source": f"{parent} + reviewed images of endpoint {endpoint}",
            "parent": parent,
            "parent_source_md5": base.get("source_md5"),
            "endpoint": endpoint,
            "counts": counts,
            "class_counts": {
                split: {c: sum(e.label == i for e in entries) for i, c in enumerate(names)}
                for split, entries in lists.items()
                if entries
            },
            "reviewed": {
                "added": added,
                "duplicates_dropped": duplicates,
                "skipped": skipped,
                "test_share": test_share,
            },
            "provenance": [*base.get("provenance", []), *manifest],
            "source_md5": fingerprint.hexdigest(),
            "created": state.now(),
        }
        if sum(added.values()) == 0:
            raise DataError(
                f"All {len(items)} reviewed image(s) of {endpoint} are already in {parent} or unreadable; "
                "label new images first"
            )
        store.sync(build, bucket, prefix, progress, move=True)
        store.put(
            bucket, join_key(prefix, "manifest.json"), (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
        )
    table.add_version(settings, s3_uri(bucket, prefix), endpoint, parent, counts, sum(added.values()))
    return AddedVersion(s3_uri(bucket, prefix), parent, names, counts, added, duplicates, skipped)


def _location(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise DataError(
            f"{uri} is not an s3:// location; give the dataset as s3://bucket/prefix, e.g. s3://scones/data-v2"
        )
    bucket, prefix = parse_s3_uri(uri.rstrip("/"))
    if not prefix:
        raise DataError(f"{uri} names a bucket, not a dataset; give s3://bucket/prefix, e.g. s3://scones/data-v2")
    return bucket, validate_prefix(prefix)


def _copy_parent(
    store: Store, parent: str, build: Path, progress: Progress
) -> tuple[dict[str, list[LstEntry]], set[str]]:
    """Copy each of the parent's splits as it is; (the .lst entries per split, the sha256 of every image)."""
    bucket, prefix = _location(parent)
    lists: dict[str, list[LstEntry]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    for split in SPLITS:
        try:
            text = store.get(bucket, join_key(prefix, f"{split}.lst")).decode("utf-8")
        except ObjectNotFound:
            if split == "train":
                raise DataError(f"{parent} has no train.lst; stage the data with 'scones stage' first") from None
            continue
        except UnicodeDecodeError as exc:
            raise DataError(f"{parent}/{split}.lst is not UTF-8 text; re-stage the data") from exc
        entries = parse_lst(text, f"{parent}/{split}.lst")
        progress.start(f"Copying {parent}/{split}", len(entries))
        for entry in entries:
            try:
                data = store.get(bucket, join_key(prefix, split, entry.path))
            except ObjectNotFound:
                raise DataError(
                    f"{parent}/{split}.lst lists {entry.path} but it is missing; re-stage the data"
                ) from None
            target = build / split / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            seen.add(hashlib.sha256(data).hexdigest())
            progress.advance()
        lists[split] = entries
    return lists, seen


def _add_items(
    items: Sequence[ReviewedImage],
    names: list[str],
    lists: dict[str, list[LstEntry]],
    seen: set[str],
    build: Path,
    test_share: float,
    seed: int,
    progress: Progress,
) -> tuple[list[dict[str, Any]], dict[str, int], int, list[dict[str, str]]]:
    """Write the new reviewed images into train/ and reviewed-test/; (provenance, added per split, dropped, skipped)."""
    fresh: list[tuple[ReviewedImage, str]] = []
    duplicates = 0
    skipped: list[dict[str, str]] = []
    progress.start("Checking reviewed images", len(items))
    for item in items:
        digest = hashlib.sha256(item.image).hexdigest()
        progress.advance()
        if digest in seen:
            duplicates += 1
            continue
        try:
            decode(item.image, f"reviewed item {item.id}", 32)
        except DataError as exc:
            skipped.append({"id": item.id, "reason": str(exc)})
            continue
        seen.add(digest)
        fresh.append((item, digest))
    # In content order, not review order: the queue's order follows when each request arrived, and the
    # same labelled images must split (and so train) the same way however concurrent clients interleaved.
    fresh.sort(key=lambda pair: pair[1])
    held = _stratified(fresh, test_share, seed)
    provenance = []
    added = {"train": 0, REVIEWED_TEST: 0}
    for number, (item, digest) in enumerate(fresh):
        split = REVIEWED_TEST if number in held else "train"
        path = f"reviewed/{names[item.label]}/{digest[:20]}{_suffix(item.image)}"
        target = build / split / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.image)
        index = max((e.index for e in lists[split]), default=-1) + 1
        lists[split].append(LstEntry(index, int(item.label), path))
        added[split] += 1
        provenance.append({
            "split": split, "path": path, "label": int(item.label), "class": names[item.label], "sha256": digest,
            "item_id": item.id, "event_id": item.event_id, "inference_id": item.inference_id,
            "reviewer": item.reviewer, "labelled_at": item.labelled_at,
        })  # fmt: skip
    return provenance, added, duplicates, skipped


def _stratified(fresh: list[tuple[ReviewedImage, str]], share: float, seed: int) -> set[int]:
    """Per class, a seeded random `share` (rounded; a class of one stays in train) of the new images."""
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for label in sorted({int(item.label) for item, _ in fresh}):
        members = sorted((i for i, (item, _) in enumerate(fresh) if item.label == label), key=lambda i: fresh[i][1])
        take = min(round(len(members) * share), max(len(members) - 1, 0))
        held.update(members[i] for i in rng.permutation(len(members))[:take])
    return held


def _suffix(data: bytes) -> str:
    return next((suffix for magic, suffix in _SUFFIX.items() if data.startswith(magic)), ".img")


def add_reviewed_for(
    settings: Settings,
    store: Store,
    endpoint: str,
    *,
    parent: str | None = None,
    into: str | None = None,
    test_share: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
) -> AddedVersion:
    """`add_reviewed` with endpoint `endpoint`'s reviewed items (its review queue) in its model's class order."""
    from scones.endpoint import registry
    from scones.model import artifact
    from scones.model.evaluate import resolve_model
    from scones.review import queue

    record = registry.describe(settings, endpoint)
    classes = artifact.load(resolve_model(settings, record.model), store).classes
    items = queue.reviewed(settings, endpoint)
    return add_reviewed(
        settings, store, endpoint, items, parent=parent, into=into, test_share=test_share, seed=seed,
        classes=classes, progress=progress,
    )  # fmt: skip
