"""Downloading a file over HTTP(S): progress, retry with backoff, resume with Range, md5 check.

The bytes go to `<dest>.part` first; an interrupted transfer resumes from where it stopped
(the server must answer a Range request with 206, else it starts over), and only a complete,
verified file is renamed to `dest`, so a half-downloaded archive is never mistaken for one.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from scones.config import resolve
from scones.errors import DownloadError
from scones.progress import NullProgress, Progress

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadConfig:
    """How hard to try (env SCONES_DOWNLOAD_RETRIES, ..._BACKOFF, ..._TIMEOUT).

    Attributes:
        retries: further attempts after the first failed one (each resumes the transfer).
        backoff: seconds before the first retry; doubled for each later one.
        timeout: seconds to wait for a connection or for the next bytes.
    """

    retries: int = 4
    backoff: float = 1.0
    timeout: float = 30.0


def load_config(**flags: object) -> DownloadConfig:
    return resolve(DownloadConfig, flags, env_prefix="SCONES_DOWNLOAD_")


def download(
    url: str,
    dest: Path,
    md5: str | None = None,
    progress: Progress | None = None,
    config: DownloadConfig | None = None,
) -> Path:
    """Fetch `url` to `dest` (resuming `<dest>.part` if present); verify `md5` when given."""
    progress = progress or NullProgress()
    config = config or load_config()
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    with httpx.Client(timeout=config.timeout, follow_redirects=True) as client:
        while True:
            try:
                _fetch(client, url, part, progress)
                break
            except _Retryable as exc:
                attempt += 1
                if attempt > config.retries:
                    raise DownloadError(
                        f"Downloading {url} failed after {attempt} attempts ({exc}); "
                        "check the network and run again (it resumes), or pass --source PATH to a local copy"
                    ) from exc
                delay = config.backoff * 2 ** (attempt - 1)
                logger.info("download of %s interrupted (%s); retry %d in %.1fs", url, exc, attempt, delay)
                progress.log(f"Download interrupted ({exc}); retrying in {delay:.1f}s")
                time.sleep(delay)
    if md5 is not None:
        actual = file_md5(part)
        if actual != md5:
            part.unlink(missing_ok=True)  # a corrupt file must not be resumed next time
            raise DownloadError(
                f"Downloaded {url} has md5 {actual}, expected {md5}; the file is corrupt or not the "
                "official one: run again to re-download, or pass --source PATH to a verified copy"
            )
    part.replace(dest)
    return dest


class _Retryable(Exception):
    """A transfer failure worth retrying (dropped connection, timeout, 5xx, short body)."""


def _fetch(client: httpx.Client, url: str, part: Path, progress: Progress) -> None:
    """One attempt: continue `part` from its current size to the end of the resource."""
    have = part.stat().st_size if part.exists() else 0
    # identity: count and store the bytes exactly as served (a .tar.gz must not be un-gzipped).
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:  # we already hold every byte
                return
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code not in (200, 206):
                raise DownloadError(
                    f"Downloading {url} failed: HTTP {response.status_code}; check the URL, "
                    "or pass --source PATH to a local copy"
                )
            resumed = response.status_code == 206 and _range_start(response) == have
            if not resumed:
                have = 0  # the server ignored Range (or sent another range): start over
            length = response.headers.get("Content-Length")
            expected = have + int(length) if length and length.isdigit() else None
            progress.start(f"Downloading {part.name.removesuffix('.part')}", expected)
            progress.advance(have)
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open("ab" if resumed else "wb") as out:
                for chunk in response.iter_raw():  # no chunker: keep every byte that arrived before a drop
                    out.write(chunk)
                    have += len(chunk)
                    progress.advance(len(chunk))
            if expected is not None and have < expected:
                raise _Retryable(f"connection closed after {have} of {expected} bytes")
    except httpx.ConnectError as exc:
        if _offline(exc):
            raise DownloadError(
                f"Cannot download {url}: no network (cannot resolve the host); "
                "pass --source PATH to a local copy of the archive"
            ) from exc
        raise _Retryable(str(exc) or type(exc).__name__) from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _Retryable(str(exc) or type(exc).__name__) from exc
    except httpx.InvalidURL as exc:
        raise DownloadError(f"Invalid URL {url!r} ({exc}); give an http(s) URL or a local path") from exc


def _range_start(response: httpx.Response) -> int | None:
    # "Content-Range: bytes 100-199/200" -> 100
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    start = rest.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _offline(exc: BaseException) -> bool:
    """True when the host name cannot be resolved: no network, retrying will not help."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()
