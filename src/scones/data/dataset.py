"""Reading a staged dataset back: a split (.lst + PNG folder) as arrays, and the manifest.

The layout is what `scones.data.stage` writes (reference section 2): `<prefix>/train/*.png`,
`<prefix>/train.lst` (`index<TAB>label<TAB>relative_path`), the same for `test`, and
`<prefix>/manifest.json`. Locations are `s3://bucket/key` URIs on the configured store, or
plain local folders/files (for example the seed's export in ../shared/data/bike-moto).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scones.data.images import decode
from scones.errors import DataError, InvalidKey, ObjectNotFound, StorageError
from scones.keys import join_key, parse_s3_uri, validate_key
from scones.progress import NullProgress, Progress
from scones.storage import Store

logger = logging.getLogger(__name__)

IMAGE_SHAPE = (32, 32, 3)
_BATCH = 256  # objects fetched per S3 round of concurrent reads (also the progress step)


@dataclass(frozen=True)
class Split:
    """One split of a staged dataset, in .lst order.

    Attributes:
        images: uint8 (N, H, W, 3) RGB pixels at the size asked for (any staged size, scaled and centre-cropped).
        labels: int64 (N,) class labels (0..k-1, index into the manifest's classes).
        names: the relative paths from the .lst (e.g. "bicycle_s_000030.png").
        checksum: sha256 hex over the .lst bytes and every image's bytes in .lst order; two
            splits with the same checksum hold the same files.
    """

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    checksum: str

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class LstEntry:
    """One line of a .lst file."""

    index: int
    label: int
    path: str


def parse_lst(text: str, source: str = ".lst") -> list[LstEntry]:
    """Parse `index<TAB>label<TAB>relative_path` lines; DataError names the first bad line."""
    entries: list[LstEntry] = []
    seen: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        problem = None
        if len(fields) != 3:
            problem = f"expected 3 tab-separated fields, found {len(fields)}"
        elif not (fields[0].isdigit() and fields[1].isdigit()):
            problem = "index and label must be non-negative integers"
        else:
            try:
                validate_key(fields[2])
            except InvalidKey:
                problem = f"unsafe relative path {fields[2]!r}"
        if problem is None and int(fields[0]) in seen:
            problem = f"duplicate index {fields[0]}"
        if problem:
            raise DataError(f"{source} line {number} is malformed ({problem}); re-stage the data with 'scones stage'")
        seen.add(int(fields[0]))
        entries.append(LstEntry(int(fields[0]), int(fields[1]), fields[2]))
    return entries


def format_lst(entries: Sequence[LstEntry]) -> str:
    """The .lst text for `entries` (reference section 2: tab-separated, no header)."""
    return "".join(f"{e.index}\t{e.label}\t{e.path}\n" for e in entries)


def read_split(
    store: Store,
    images_uri: str,
    lst_uri: str,
    progress: Progress | None = None,
    *,
    size: tuple[int, int] = IMAGE_SHAPE[:2],
) -> Split:
    """Read one split: the .lst at `lst_uri` and the images it lists under `images_uri`.

    Both are `s3://bucket/key` URIs on `store` or local paths. Images of any size and format
    are read as `images.decode` reads them at `size` (height, width; default 32x32): EXIF
    orientation applied, scaled to cover, centre crop; an image of that size is read pixel for
    pixel. Raises DataError when the .lst is
    missing or malformed, or a listed image is missing or unreadable.
    """
    progress = progress or NullProgress()
    lst_bytes = _read_one(store, lst_uri, what="label list")
    entries = parse_lst(_text(lst_bytes, lst_uri), lst_uri)
    if not entries:
        raise DataError(f"{lst_uri} lists no images; re-stage the data with 'scones stage'")
    digest = hashlib.sha256(lst_bytes)
    images = np.empty((len(entries), *size, 3), dtype=np.uint8)
    progress.start(f"Reading {images_uri}", len(entries))
    for row, (name, data) in enumerate(_read_images(store, images_uri, [e.path for e in entries])):
        digest.update(data)
        images[row] = decode(data, f"{images_uri.rstrip('/')}/{name}", size)
        if row % _BATCH == _BATCH - 1 or row == len(entries) - 1:
            progress.advance(row % _BATCH + 1)
    labels = np.fromiter((e.label for e in entries), dtype=np.int64, count=len(entries))
    return Split(images=images, labels=labels, names=[e.path for e in entries], checksum=digest.hexdigest())


@dataclass(frozen=True)
class SplitIndex:
    """One split located but not decoded: what a streaming loader reads image by image.

    Same labels, names and checksum as `read_split` gives; `image(i)` reads and decodes one
    image at `size` exactly as `read_split` would, so the streamed and the in-memory paths
    see the same pixels. Picklable (loader worker processes each read through it).
    """

    store: Store
    images_uri: str
    labels: np.ndarray
    names: list[str]
    checksum: str
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> np.ndarray:
        """uint8 (H, W, 3) of the i-th image in .lst order."""
        image: np.ndarray = self.images([i])[0]
        return image

    def images(self, rows: Sequence[int]) -> np.ndarray:
        """uint8 (len(rows), H, W, 3) of those images in .lst order; S3 reads go concurrently, as `read_split`'s."""
        out = np.empty((len(rows), *self.size, 3), dtype=np.uint8)
        names = [self.names[i] for i in rows]
        for row, (name, data) in enumerate(_read_images(self.store, self.images_uri, names)):
            out[row] = decode(data, f"{self.images_uri.rstrip('/')}/{name}", self.size)
        return out


def read_lst(store: Store, lst_uri: str) -> list[LstEntry]:
    """The entries of the .lst at `lst_uri` (DataError when missing, malformed or empty)."""
    entries = parse_lst(_text(_read_one(store, lst_uri, what="label list"), lst_uri), lst_uri)
    if not entries:
        raise DataError(f"{lst_uri} lists no images; re-stage the data with 'scones stage'")
    return entries


def index_split(
    store: Store,
    images_uri: str,
    lst_uri: str,
    progress: Progress | None = None,
    *,
    size: tuple[int, int] = IMAGE_SHAPE[:2],
    checksum: bool = True,
) -> SplitIndex:
    """Locate one split without decoding it: every image's bytes are read once, for the checksum only.

    `checksum=False` reads only the .lst (the checksum is then ""): for a single pass over the
    split, such as an evaluation, where reading every file twice would buy nothing; a missing
    or unreadable image is then reported when its batch is read.
    """
    progress = progress or NullProgress()
    lst_bytes = _read_one(store, lst_uri, what="label list")
    entries = parse_lst(_text(lst_bytes, lst_uri), lst_uri)
    if not entries:
        raise DataError(f"{lst_uri} lists no images; re-stage the data with 'scones stage'")
    digest = hashlib.sha256(lst_bytes)
    if checksum:
        progress.start(f"Indexing {images_uri}", len(entries))
        for row, (_, data) in enumerate(_read_images(store, images_uri, [e.path for e in entries])):
            digest.update(data)
            if row % _BATCH == _BATCH - 1 or row == len(entries) - 1:
                progress.advance(row % _BATCH + 1)
    labels = np.fromiter((e.label for e in entries), dtype=np.int64, count=len(entries))
    names = [e.path for e in entries]
    return SplitIndex(store, images_uri, labels, names, digest.hexdigest() if checksum else "", size)


def read_manifest(store: Store, prefix_uri: str) -> dict[str, Any]:
    """The manifest.json of the dataset staged at `prefix_uri` (e.g. "s3://scones/data")."""
    uri = f"{prefix_uri.rstrip('/')}/manifest.json"
    data = _read_one(store, uri, what="dataset manifest")
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{uri} is not valid JSON ({exc}); re-stage the data with 'scones stage'") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("classes"), list):
        raise DataError(f"{uri} has no 'classes' list; re-stage the data with 'scones stage'")
    return manifest


def _text(data: bytes, uri: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{uri} is not UTF-8 text; re-stage the data with 'scones stage'") from exc


def _read_one(store: Store, uri: str, what: str) -> bytes:
    try:
        if uri.startswith("s3://"):
            return store.get(*parse_s3_uri(uri))
        return Path(uri).expanduser().read_bytes()
    except (ObjectNotFound, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise DataError(f"No {what} at {uri}; run 'scones stage' first or check the location") from exc
    except OSError as exc:
        raise DataError(f"Cannot read {what} at {uri} ({exc}); check the location and its permissions") from exc


def _read_images(store: Store, images_uri: str, names: list[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) for each name under images_uri, in order; S3 reads go in concurrent batches."""
    if images_uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(images_uri)
        if store.is_local:
            yield from _read_files(store.local_path(bucket, prefix) if prefix else store.local_path(bucket), names)
            return
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            paths = [store.path(bucket, join_key(prefix, n)) for n in batch]
            try:
                found = store.fs.cat(paths, on_error="return")
            except Exception as exc:  # s3fs/botocore errors at the storage boundary
                raise StorageError(f"Reading {images_uri} failed: {exc}; check that the store is reachable") from exc
            for name, path in zip(batch, paths, strict=True):
                data = found.get(path)
                if not isinstance(data, bytes):
                    raise DataError(f"The .lst lists {name} but {images_uri}/{name} cannot be read ({data}); re-stage")
                yield name, data
        return
    yield from _read_files(Path(images_uri).expanduser(), names)


def _read_files(folder: Path, names: list[str]) -> Iterator[tuple[str, bytes]]:
    for name in names:
        try:
            yield name, (folder / name).read_bytes()
        except OSError as exc:
            raise DataError(f"The .lst lists {name} but {folder / name} cannot be read ({exc}); re-stage") from exc
