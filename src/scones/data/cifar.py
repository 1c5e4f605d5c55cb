"""The CIFAR-100 python archive: read it safely (tar members in memory, restricted unpickler).

The archive (reference section 1) holds three Python 2 pickles: `cifar-100-python/meta`,
`.../train` and `.../test`. Nothing is extracted to disk: members are read straight from the
tar stream, and any link, device, absolute or `..` member makes the whole archive refused.
The pickles are loaded by an unpickler that allows only the numpy globals the real files use,
so a malicious archive cannot run code. Fetching the archive lives in `scones.data.download`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from scones.errors import DataError
from scones.progress import NullProgress, Progress

logger = logging.getLogger(__name__)

OFFICIAL_NAME = "cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
ROOT = "cifar-100-python"
SPLITS = ("train", "test")
ROW_BYTES = 32 * 32 * 3
# The official train pickle is ~155 MB; anything far larger is not CIFAR (or is a zip bomb).
MAX_MEMBER_BYTES = 1 << 30


@dataclass(frozen=True)
class Batch:
    """One split of the archive: raw rows, labels and file names, in archive order."""

    data: np.ndarray  # uint8 (N, 3072): 1024 red, 1024 green, 1024 blue, each 32x32 row-major
    fine_labels: np.ndarray  # int64 (N,)
    filenames: list[str]

    def __len__(self) -> int:
        return len(self.filenames)

    def images(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """uint8 (n, 32, 32, 3) RGB images of `rows` (one vectorised reshape, no Python loop)."""
        return np.ascontiguousarray(self.data[rows].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


@dataclass(frozen=True)
class Cifar:
    """The parts of the archive staging needs; `splits` has whichever of train/test it held."""

    fine_label_names: list[str]
    splits: dict[str, Batch]
    md5: str  # of the whole archive file, computed while reading it (no second pass)


class Refused(pickle.UnpicklingError):
    """The pickle asked for something the restricted unpickler does not allow."""


def _reconstruct() -> Any:
    # numpy 2 moved numpy.core to numpy._core; both names in a pickle mean this one function.
    from numpy._core.multiarray import _reconstruct as reconstruct

    return reconstruct


def _safe_dtype(*args: Any) -> np.dtype[Any]:
    """numpy.dtype, but never an object dtype (object arrays can smuggle arbitrary objects)."""
    dtype: np.dtype[Any] = np.dtype(*args)
    if dtype.hasobject:
        raise Refused("object dtype refused")
    return dtype


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """codecs.encode as Python 3 protocol-2 pickles use it for bytes, limited to latin1."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused("only latin1 text-to-bytes encoding is allowed")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    # Py2-written files (the real ones) need only the numpy globals; archives re-pickled by
    # Python 3 with protocol 2 also store bytes as _codecs.encode(text, "latin1").
    ("_codecs", "encode"): lambda: _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: _safe_dtype,
}


class SafeUnpickler(pickle.Unpickler):
    """Loads only plain containers and the numpy globals CIFAR pickles reference."""

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise Refused(f"global {module}.{name} is not allowed")
        return factory()


def safe_loads(data: bytes) -> Any:
    """Unpickle `data` (a Python 2 pickle; byte strings stay bytes) with `SafeUnpickler`."""
    return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()


def read_archive(path: Path, progress: Progress | None = None) -> Cifar:
    """Read meta, train and test from a CIFAR-100 python archive; DataError names any problem."""
    progress = progress or NullProgress()
    progress.start(f"Reading {path.name}", path.stat().st_size)
    members: dict[str, bytes] = {}
    with path.open("rb") as raw:
        counted = _Counting(raw, progress)
        try:
            # Stream mode ("r|*") reads the archive once, front to back, and never extracts.
            with tarfile.open(fileobj=counted, mode="r|*") as tar:
                for member in tar:
                    _check_member(member, path)
                    short = member.name.removeprefix("./").removeprefix(ROOT + "/")
                    if short in ("meta", *SPLITS) and member.isfile():
                        members[short] = _read_member(tar, member, path)
            counted.drain()
        except DataError:
            raise
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise DataError(
                f"{path} is not a readable tar archive ({exc or type(exc).__name__}): it is truncated or not a "
                "CIFAR-100 python archive; download it again"
            ) from exc
    if "meta" not in members or not any(s in members for s in SPLITS):
        found = ", ".join(sorted(members)) or "none of them"
        raise DataError(
            f"{path} is not a CIFAR-100 python archive: expected {ROOT}/meta, train and test (found {found})"
        )
    names = _fine_label_names(_load(members["meta"], "meta", path), path)
    splits = {s: _batch(_load(members[s], s, path), s, path, len(names)) for s in SPLITS if s in members}
    return Cifar(fine_label_names=names, splits=splits, md5=counted.md5.hexdigest())


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    pure = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or ".." in pure.parts or "\x00" in name:
        raise DataError(f"{archive} has an unsafe member name {name!r}; refusing an archive that escapes its folder")
    if not (member.isfile() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "special file"
        raise DataError(f"{archive} has a {kind} member {name!r}; refusing it (CIFAR archives hold plain files only)")
    if member.size > MAX_MEMBER_BYTES:
        raise DataError(f"{archive} member {name!r} is {member.size} bytes, too large for CIFAR-100; refusing it")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise DataError(f"{archive} member {member.name!r} cannot be read; download the archive again")
    data = handle.read()
    if len(data) != member.size:
        raise DataError(f"{archive} is truncated inside {member.name!r}; download it again")
    return data


def _load(data: bytes, member: str, archive: Path) -> dict[bytes, Any]:
    try:
        value = safe_loads(data)
    except Refused as exc:
        raise DataError(f"{archive} member {member!r} refused: {exc}; this is not a genuine CIFAR-100 pickle") from exc
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
    ) as exc:
        raise DataError(f"{archive} member {member!r} is a malformed pickle ({exc}); download it again") from exc
    if not isinstance(value, dict):
        raise DataError(f"{archive} member {member!r} is not a dict; this is not a CIFAR-100 archive")
    return value


def _fine_label_names(meta: dict[bytes, Any], archive: Path) -> list[str]:
    names = meta.get(b"fine_label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{archive} meta has no fine_label_names list; this is not a CIFAR-100 archive")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def _batch(raw: dict[bytes, Any], split: str, archive: Path, num_classes: int) -> Batch:
    def bad(problem: str) -> DataError:
        return DataError(f"{archive} {split}: {problem}; this is not a well-formed CIFAR-100 archive")

    data, labels, filenames = raw.get(b"data"), raw.get(b"fine_labels"), raw.get(b"filenames")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_BYTES:
        raise bad(f"'data' must be a uint8 N x {ROW_BYTES} array")
    if not isinstance(labels, list) or not isinstance(filenames, list):
        raise bad("'fine_labels' and 'filenames' must be lists")
    if not len(labels) == len(filenames) == len(data):
        raise bad(f"{len(data)} rows but {len(labels)} labels and {len(filenames)} file names")
    if not all(type(v) is int for v in labels):
        raise bad("'fine_labels' must be integers")
    fine = np.asarray(labels, dtype=np.int64)
    if len(fine) and (fine.min() < 0 or fine.max() >= num_classes):
        raise bad(f"fine labels must lie in 0..{num_classes - 1}")
    names = [n.decode("latin1") if isinstance(n, bytes) else n for n in filenames]
    if not all(isinstance(n, str) and _SAFE_NAME.fullmatch(n) for n in names):
        raise bad("a file name is not a plain '<name>.png' (no folders, no '..')")
    return Batch(data=data, fine_labels=fine, filenames=names)


# A plain file name: letters, digits, "_", "-", "." (not leading), ending in .png; no folders.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,195}\.png")


class _Counting(io.RawIOBase):
    """A read-only file wrapper that hashes what is read and reports it to a Progress."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw, self._progress = raw, progress
        self.md5 = hashlib.md5(usedforsecurity=False)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = int(self._raw.readinto(buffer) or 0)  # type: ignore[attr-defined]
        self.md5.update(memoryview(buffer)[:n])
        self._progress.advance(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.md5.update(data)
        self._progress.advance(len(data))
        return data

    def drain(self) -> None:
        """Read to the end (tar stops at its end marker) so md5 covers the whole file."""
        while self.read(1 << 20):
            pass
