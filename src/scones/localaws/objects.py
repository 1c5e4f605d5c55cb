"""S3's data model over the scones home: a bucket is a scones bucket, an object is a file.

`<home>/buckets/<bucket>/<key>` holds the bytes (what `scones stage` writes and every stage
reads), so what the API writes the CLI and console see, and the reverse. What a folder of files
cannot hold, the ETag, Content-Type and user metadata, lives in a sidecar JSON under
`<home>/localaws/meta/`, valid while the file's size and mtime match; a file written by another
scones command gets its MD5 ETag computed on first use.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scones.config import Settings
from scones.errors import StorageError
from scones.keys import validate_bucket, validate_key
from scones.localaws.protocol import AwsError

TMP_PREFIX = ".scones-tmp-"  # the store's own temporary-file prefix: listings skip it
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 answers when the writer sent none


@dataclass
class ObjectMeta:
    """What S3 reports about one object besides its bytes."""

    size: int
    mtime_ns: int
    etag: str  # quoted, as S3 sends it: '"md5hex"' or '"md5-of-md5s-N"'
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def modified(self) -> float:
        return self.mtime_ns / 1e9


class Objects:
    """Buckets, objects and their metadata under one scones home."""

    def __init__(self, settings: Settings) -> None:
        self.buckets_dir = settings.buckets_dir
        self.meta_dir = settings.home / "localaws" / "meta"
        self.uploads_dir = settings.home / "localaws" / "uploads"
        self._cache: dict[Path, ObjectMeta] = {}

    # -- buckets --------------------------------------------------------------------------------
    def bucket_dir(self, bucket: str, must_exist: bool = True) -> Path:
        try:
            validate_bucket(bucket)
        except StorageError as exc:
            raise AwsError("InvalidBucketName", str(exc)) from exc
        path = self.buckets_dir / bucket
        if must_exist and not path.is_dir():
            raise AwsError("NoSuchBucket", f"The bucket {bucket} does not exist; create it first", 404)
        return path

    def buckets(self) -> list[tuple[str, float]]:
        if not self.buckets_dir.is_dir():
            return []
        found = [(p.name, p.stat().st_mtime) for p in self.buckets_dir.iterdir() if p.is_dir()]
        return sorted(found)

    def create_bucket(self, bucket: str) -> None:
        path = self.bucket_dir(bucket, must_exist=False)
        if path.is_dir():
            raise AwsError("BucketAlreadyOwnedByYou", f"You already own the bucket {bucket}", 409)
        path.mkdir(parents=True)

    def delete_bucket(self, bucket: str) -> None:
        path = self.bucket_dir(bucket)
        if next(self.walk(bucket, ""), None) is not None:
            raise AwsError("BucketNotEmpty", f"The bucket {bucket} is not empty; delete its objects first", 409)
        shutil.rmtree(path)
        shutil.rmtree(self.meta_dir / bucket, ignore_errors=True)

    # -- objects --------------------------------------------------------------------------------
    def path(self, bucket: str, key: str) -> Path:
        base = self.bucket_dir(bucket)
        try:
            validate_key(key)
        except StorageError as exc:
            raise AwsError("InvalidArgument", str(exc)) from exc
        if key.endswith("/"):
            raise AwsError("InvalidArgument", f"Key {key!r} ends in '/': folder markers are not stored locally")
        return base / key

    def head(self, bucket: str, key: str) -> ObjectMeta:
        path = self.path(bucket, key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            stat = None
        if stat is None or not path.is_file() or path.name.startswith(TMP_PREFIX):
            raise AwsError("NoSuchKey", f"The specified key does not exist: {key}", 404)
        cached = self._cache.get(path)
        if cached and cached.mtime_ns == stat.st_mtime_ns and cached.size == stat.st_size:
            return cached
        meta = self._read_sidecar(bucket, key, stat.st_size, stat.st_mtime_ns)
        if meta is None:
            meta = ObjectMeta(stat.st_size, stat.st_mtime_ns, f'"{_md5_file(path)}"', _guessed_type(key))
        self._cache[path] = meta
        return meta

    def write(
        self, bucket: str, key: str, chunks: Iterable[bytes], content_type: str | None, metadata: dict[str, str]
    ) -> ObjectMeta:
        """Write an object atomically (temporary file, then rename) and return its metadata."""
        digest = hashlib.md5(usedforsecurity=False)

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                digest.update(chunk)
                yield chunk

        path = self._replace(bucket, key, hashed())
        return self._record(bucket, key, path, f'"{digest.hexdigest()}"', content_type, metadata)

    def copy(self, src: tuple[str, str], dest: tuple[str, str], meta: ObjectMeta | None) -> ObjectMeta:
        """Copy an object; `meta` (REPLACE) or the source's (COPY) goes with it."""
        source = self.head(*src)
        path = self._replace(*dest, _read_chunks(self.path(*src)))
        kept = meta or source
        return self._record(*dest, path, source.etag, kept.content_type, kept.metadata)

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object (deleting a missing key succeeds, as on S3); empty folders go too."""
        path = self.path(bucket, key)
        if path.is_file():
            path.unlink()
        self._sidecar(bucket, key).unlink(missing_ok=True)
        self._cache.pop(path, None)
        root = self.bucket_dir(bucket)
        parent = path.parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def walk(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key under `prefix` (a plain string prefix, as S3 means it), in S3's order (UTF-8 bytes)."""
        root = self.bucket_dir(bucket)
        # Start at the deepest folder the prefix names; S3 prefixes need not end at a '/'.
        start_key = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = root / start_key if start_key else root
        if start_key and (".." in start_key.split("/") or not start.is_dir()):
            return
        yield from _walk(start, start_key, prefix)

    # -- multipart ------------------------------------------------------------------------------
    def start_upload(self, bucket: str, key: str, content_type: str | None, metadata: dict[str, str]) -> str:
        self.path(bucket, key)  # validates before anything is written
        upload_id = os.urandom(16).hex()
        folder = self.uploads_dir / upload_id
        folder.mkdir(parents=True)
        info = {"bucket": bucket, "key": key, "content_type": content_type, "metadata": metadata}
        (folder / "upload.json").write_text(json.dumps(info))
        return upload_id

    def upload(self, bucket: str, key: str, upload_id: str) -> Path:
        folder = self.uploads_dir / upload_id
        info_file = folder / "upload.json"
        if not upload_id.isalnum() or not info_file.is_file():
            raise AwsError("NoSuchUpload", f"The upload {upload_id} does not exist; it was completed or aborted", 404)
        info = json.loads(info_file.read_text())
        if (info["bucket"], info["key"]) != (bucket, key):
            raise AwsError("NoSuchUpload", f"The upload {upload_id} is not for s3://{bucket}/{key}", 404)
        return folder

    def put_part(self, folder: Path, number: int, chunks: Iterable[bytes]) -> str:
        if not 1 <= number <= 10000:
            raise AwsError("InvalidArgument", f"Part number {number} is out of range; use 1 to 10000")
        digest = hashlib.md5(usedforsecurity=False)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
        os.replace(tmp, folder / f"{number:05d}.part")
        (folder / f"{number:05d}.etag").write_text(digest.hexdigest())
        return f'"{digest.hexdigest()}"'

    def complete_upload(self, bucket: str, key: str, folder: Path, parts: list[tuple[int, str]]) -> ObjectMeta:
        """Join the named parts in order; the ETag is the MD5 of the parts' MD5s, '-N', as S3 computes it."""
        if not parts or [n for n, _ in parts] != sorted({n for n, _ in parts}):
            raise AwsError("InvalidPartOrder", "List the parts once each, in ascending part-number order")
        digests = []
        for number, etag in parts:
            etag_file = folder / f"{number:05d}.etag"
            if not etag_file.is_file() or etag.strip('"') != etag_file.read_text():
                raise AwsError("InvalidPart", f"Part {number} was not uploaded or its ETag {etag} does not match")
            digests.append(bytes.fromhex(etag_file.read_text()))
        files = [folder / f"{number:05d}.part" for number, _ in parts]
        path = self._replace(bucket, key, (c for f in files for c in _read_chunks(f)))
        info = json.loads((folder / "upload.json").read_text())
        etag = f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(parts)}"'
        shutil.rmtree(folder)
        return self._record(bucket, key, path, etag, info["content_type"], info["metadata"])

    def abort_upload(self, folder: Path) -> None:
        shutil.rmtree(folder)

    # -- internals ------------------------------------------------------------------------------
    def _replace(self, bucket: str, key: str, chunks: Iterable[bytes]) -> Path:
        """Write `chunks` to a temporary file beside the object, then rename it over the object.

        The folder is made only when the first open finds it missing: `aws s3 sync` writes many
        objects into few folders, and each saved syscall is per request.
        """
        path = self.path(bucket, key)
        tmp = os.path.join(path.parent, f"{TMP_PREFIX}{os.urandom(6).hex()}")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except (FileExistsError, NotADirectoryError) as exc:
            raise AwsError("InvalidArgument", f"Key {key!r} is inside an existing object's name: {exc}") from exc
        try:
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except IsADirectoryError as exc:
            os.unlink(tmp)
            raise AwsError("InvalidArgument", f"Key {key!r} is a prefix of other keys; pick another name") from exc
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    def _record(
        self, bucket: str, key: str, path: Path, etag: str, content_type: str | None, metadata: dict[str, str]
    ) -> ObjectMeta:
        stat = path.stat()
        meta = ObjectMeta(stat.st_size, stat.st_mtime_ns, etag, content_type or DEFAULT_CONTENT_TYPE, metadata)
        sidecar = self._sidecar(bucket, key)
        if "-" not in etag and not metadata and meta.content_type == _guessed_type(key):
            # Nothing a sidecar would add: the MD5 and the type are derived again from the file.
            try:
                os.unlink(sidecar)
            except FileNotFoundError:
                pass
        else:
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            sidecar.write_text(json.dumps(asdict(meta)))
        self._cache[path] = meta
        return meta

    def _sidecar(self, bucket: str, key: str) -> Path:
        return self.meta_dir / bucket / (key + ".json")

    def _read_sidecar(self, bucket: str, key: str, size: int, mtime_ns: int) -> ObjectMeta | None:
        try:
            meta = ObjectMeta(**json.loads(self._sidecar(bucket, key).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return meta if (meta.size, meta.mtime_ns) == (size, mtime_ns) else None


def _walk(folder: Path, folder_key: str, prefix: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    # S3 orders keys by their UTF-8 bytes; a folder's keys sort as "name/...".
    named = sorted(entries, key=lambda e: (e.name + ("/" if e.is_dir() else "")).encode())
    for entry in named:
        key = f"{folder_key}/{entry.name}" if folder_key else entry.name
        if entry.is_dir():
            if key.startswith(prefix[: len(key)]) or (key + "/").startswith(prefix):
                yield from _walk(Path(entry.path), key, prefix)
        elif key.startswith(prefix) and not entry.name.startswith(TMP_PREFIX):
            yield key


def _guessed_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def _read_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in _read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()
