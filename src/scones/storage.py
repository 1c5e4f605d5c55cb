"""The object store: buckets and keys, on local disk or S3, behind one interface.

Local: bucket `b`, key `k` is the file `<home>/buckets/b/k`. S3 (settings.storage == "s3"):
real S3 or any S3-compatible server (settings.s3_endpoint_url). Both go through fsspec, so
every stage reads and writes `s3://bucket/key` URIs the same way wherever the bytes live.
Every key is validated first (`scones.keys`), so nothing escapes its bucket.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from scones.config import Settings
from scones.errors import ObjectNotFound, StorageError
from scones.keys import join_key, parse_s3_uri, validate_bucket, validate_key, validate_prefix
from scones.progress import NullProgress, Progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectInfo:
    """One object in a listing; `key` is relative to the bucket."""

    key: str
    size: int
    etag: str | None = None  # md5 hex for single-part S3 uploads; None locally
    modified: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: objects written and objects already up to date."""

    uploaded: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.uploaded + self.unchanged


class Store:
    """Buckets and keys on local disk or S3; construct with `Store(settings)`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fs: Any = None
        self._fs_pid = 0  # the process that made _fs

    @property
    def is_local(self) -> bool:
        return self.settings.storage == "local"

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (created on first use; s3fs is a heavy import).

        A forked child (a loader worker) makes its own: s3fs's event loop is not fork-safe.
        """
        if self._fs is None or self._fs_pid != os.getpid():
            self._fs_pid = os.getpid()
            if self.is_local:
                import fsspec

                self._fs = fsspec.filesystem("file")
            else:
                import s3fs

                client_kwargs: dict[str, Any] = {"region_name": self.settings.region}
                if self.settings.s3_endpoint_url:
                    client_kwargs["endpoint_url"] = self.settings.s3_endpoint_url
                # use_listings_cache=False: other processes write the same buckets.
                self._fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, use_listings_cache=False)
        return self._fs

    # -- addressing -------------------------------------------------------------------------
    def path(self, bucket: str, key: str = "") -> str:
        """The filesystem path of bucket/key for `self.fs` (validated)."""
        validate_bucket(bucket)
        key = validate_key(key) if key else ""
        if self.is_local:
            base = self.settings.buckets_dir / bucket
            return str(base / key) if key else str(base)
        return f"{bucket}/{key}" if key else bucket

    def local_path(self, bucket: str, key: str = "") -> Path:
        """The file behind bucket/key on a local store; StorageError on S3."""
        if not self.is_local:
            raise StorageError("This store is S3, not local files; read objects with get() or open()")
        return Path(self.path(bucket, key))

    # -- objects ----------------------------------------------------------------------------
    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write one object; locally the write is atomic (temporary file, then rename)."""
        path = self.path(bucket, key)
        with _translate(bucket, key):
            if self.is_local:
                _atomic_write(Path(path), data)
            else:
                self.fs.pipe_file(path, data)

    def get(self, bucket: str, key: str) -> bytes:
        """Read one object; ObjectNotFound when it is not there."""
        path = self.path(bucket, key)
        with _translate(bucket, key):
            if self.is_local and Path(path).is_dir():
                raise ObjectNotFound(bucket, key)
            data: bytes = self.fs.cat_file(path)
            return data

    def open(self, bucket: str, key: str, mode: str = "rb") -> IO[Any]:
        """A file object for streaming reads or writes of one object."""
        path = self.path(bucket, key)
        with _translate(bucket, key):
            if self.is_local and "w" in mode:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            return self.fs.open(path, mode)  # type: ignore[no-any-return]

    def exists(self, bucket: str, key: str) -> bool:
        path = self.path(bucket, key)
        with _translate(bucket, key):
            return bool(self.fs.isfile(path))

    def delete(self, bucket: str, key: str) -> None:
        path = self.path(bucket, key)
        with _translate(bucket, key):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix` (recursively), sorted by key."""
        prefix = validate_prefix(prefix)
        root = self.path(bucket)
        base = self.path(bucket, prefix) if prefix else root
        with _translate(bucket, prefix):
            if not self.fs.exists(base):
                return
            found = self.fs.find(base, detail=True)
        strip = len(root.rstrip("/")) + 1
        for path, info in sorted(found.items()):
            if info.get("type") == "directory":
                continue
            key = path[strip:] if self.is_local else path.split("/", 1)[1]
            if self.is_local and Path(key).name.startswith(".scones-tmp-"):
                continue
            etag = info.get("ETag") or info.get("etag")
            yield ObjectInfo(
                key=key,
                size=int(info.get("size") or 0),
                etag=etag.strip('"') if isinstance(etag, str) else None,
                modified=_mtime(info),
            )

    # -- bulk -------------------------------------------------------------------------------
    def sync(
        self, src: Path, bucket: str, prefix: str = "", progress: Progress | None = None, move: bool = False
    ) -> SyncResult:
        """Upload the files under local folder `src` to bucket/prefix, like `aws s3 sync`.

        Only files whose content differs (by size and md5) are written, so re-running is cheap
        and a sync interrupted half-way is finished by the next one. `move=True` (the caller
        discards `src` afterwards) lets a local store rename each file into place: one atomic
        rename instead of a read, a write and a later delete (staging 60,000 PNGs).
        """
        progress = progress or NullProgress()
        prefix = validate_prefix(prefix)
        files = sorted(p for p in src.rglob("*") if p.is_file())
        remote = {o.key: o for o in self.list(bucket, prefix)}
        progress.start(f"Syncing to {self.describe(bucket, prefix)}", len(files))
        pending: list[tuple[Path, str]] = []
        unchanged = 0
        for file in files:
            key = join_key(prefix, file.relative_to(src).as_posix())
            if self._same(file, bucket, key, remote.get(key)):
                unchanged += 1
                progress.advance()
            else:
                pending.append((file, key))
        with _translate(bucket, prefix):
            if self.is_local:
                for file, key in pending:
                    dest = Path(self.path(bucket, key))
                    if not (move and _move(file, dest)):
                        _atomic_write(dest, file.read_bytes())
                    progress.advance()
            else:
                for start in range(0, len(pending), 256):  # batches keep the bar moving
                    batch = pending[start : start + 256]
                    self.fs.put([str(f) for f, _ in batch], [self.path(bucket, k) for _, k in batch])
                    progress.advance(len(batch))
        return SyncResult(uploaded=len(pending), unchanged=unchanged)

    def _same(self, file: Path, bucket: str, key: str, remote: ObjectInfo | None) -> bool:
        if remote is None or remote.size != file.stat().st_size:
            return False
        if self.is_local:
            return Path(self.path(bucket, key)).read_bytes() == file.read_bytes()
        return remote.etag == hashlib.md5(file.read_bytes(), usedforsecurity=False).hexdigest()

    def describe(self, bucket: str, key: str = "") -> str:
        """A human-readable location, e.g. for progress bars and messages."""
        uri = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
        return f"{uri} ({self.path(bucket, key)})" if self.is_local else uri


def read_uri(store: Store, uri: str) -> bytes:
    """Read `s3://bucket/key` from the store, or a local file path."""
    if uri.startswith("s3://"):
        return store.get(*_object_uri(uri))
    path = Path(uri).expanduser()
    if not path.is_file():
        raise StorageError(f"No file at {uri}; give an existing path or an s3://BUCKET/KEY URI")
    return path.read_bytes()


def _object_uri(uri: str) -> tuple[str, str]:
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise StorageError(f"{uri} names a bucket, not an object; add the key: s3://BUCKET/KEY")
    return bucket, key


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scones-tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _move(src: Path, dest: Path) -> bool:
    """Rename src onto dest (atomic); False when they are on different filesystems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise
    return True


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("mtime") or info.get("LastModified")
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


class _translate:
    """Turn filesystem and S3 errors into StorageError / ObjectNotFound (one boundary)."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, StorageError) or not isinstance(exc, Exception):
            return False
        if isinstance(exc, FileNotFoundError):
            raise ObjectNotFound(self.bucket, self.key) from exc
        if isinstance(exc, PermissionError):
            raise StorageError(
                f"Permission denied for s3://{self.bucket}/{self.key}: {exc}; check credentials or file modes"
            ) from exc
        if isinstance(exc, OSError) or type(exc).__module__.startswith(("botocore", "aiobotocore", "s3fs")):
            raise StorageError(
                f"Storage failed for s3://{self.bucket}/{self.key}: {exc}; "
                "check that the store is reachable and the bucket exists"
            ) from exc
        return False
