"""Reading the candidates of a source once: bytes, sha256, image check, copy into the build folder.

Each file is read once, hashed, checked with `images.inspect` (no full decode for JPEG or PNG)
and written unchanged into the build folder. Threads overlap the reads: hashing and Pillow's
decoders release the GIL. What comes back says which files are bad and why, which are exact
duplicates, and the counts and size distribution the manifest records.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scones.data.images import ImageInfo, inspect
from scones.data.sources import Candidate
from scones.errors import BadImage, DataError, StorageError
from scones.progress import NullProgress, Progress

_CHUNK = 64  # files per progress step
_SHOWN = 20  # bad files or duplicates named in one error message


@dataclass(frozen=True)
class Scanned:
    candidate: Candidate
    sha256: str
    info: ImageInfo


@dataclass(frozen=True)
class Bad:
    origin: str
    reason: str


@dataclass(frozen=True)
class Scan:
    good: list[Scanned]
    bad: list[Bad]

    def duplicates(self) -> tuple[list[list[str]], list[list[str]]]:
        """(groups of identical files within one split, groups spanning train and test), as split/path names."""
        groups: dict[str, list[Scanned]] = defaultdict(list)
        for item in self.good:
            groups[item.sha256].append(item)
        within: list[list[str]] = []
        across: list[list[str]] = []
        for members in groups.values():
            if len(members) < 2:
                continue
            names = sorted(f"{m.candidate.split}/{m.candidate.path}" for m in members)
            (across if len({m.candidate.split for m in members}) > 1 else within).append(names)
        return sorted(within), sorted(across)


def scan(candidates: Sequence[Candidate], build: Path, progress: Progress | None = None) -> Scan:
    """Read, hash, check and copy every candidate into build/<split>/<path>; bad files are collected, not raised."""
    progress = progress or NullProgress()
    progress.start("Checking images", len(candidates))
    for folder in {os.path.dirname(f"{build}/{c.split}/{c.path}") for c in candidates}:
        os.makedirs(folder, exist_ok=True)
    good: list[Scanned] = []
    bad: list[Bad] = []
    workers = min(16, 4 * (os.cpu_count() or 1))  # I/O overlaps: more threads than cores
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(candidates), _CHUNK * workers):
            chunk = candidates[start : start + _CHUNK * workers]
            for result in pool.map(lambda c: _one(c, build), chunk):
                if isinstance(result, Scanned):
                    good.append(result)
                else:
                    bad.append(result)
            progress.advance(len(chunk))
    return Scan(good, bad)


def _one(candidate: Candidate, build: Path) -> Scanned | Bad:
    try:
        data = candidate.read()
    except FileNotFoundError:
        return Bad(candidate.origin, "missing")
    except (OSError, StorageError) as exc:
        return Bad(candidate.origin, f"unreadable ({exc})")
    try:
        info = inspect(data, candidate.origin)
    except BadImage as exc:
        return Bad(candidate.origin, str(exc).removeprefix(f"{candidate.origin}: "))
    with open(f"{build}/{candidate.split}/{candidate.path}", "wb") as handle:
        handle.write(data)
    return Scanned(candidate, hashlib.sha256(data).hexdigest(), info)


def refuse_bad(bad: Sequence[Bad]) -> None:
    """DataError listing the bad files by name, with the way out."""
    shown = "; ".join(f"{b.origin}: {b.reason}" for b in bad[:_SHOWN])
    more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
    raise DataError(
        f"{len(bad)} bad image file{'s' if len(bad) != 1 else ''}: {shown}{more}; fix or remove them, "
        "or pass --skip-bad to stage without them (nothing was written)"
    )


def refuse_leak(across: Sequence[Sequence[str]]) -> None:
    shown = "; ".join(" = ".join(group) for group in across[:_SHOWN])
    more = f" (and {len(across) - _SHOWN} more)" if len(across) > _SHOWN else ""
    raise DataError(
        f"{len(across)} image{'s are' if len(across) != 1 else ' is'} in both train and test: {shown}{more}; "
        "a leak inflates every accuracy figure: remove one copy, or pass --allow-leak (nothing was written)"
    )


def statistics(good: Sequence[Scanned], classes: Sequence[str]) -> dict[str, Any]:
    """Per split: images per class, formats, and the size distribution (min/median/max and the commonest sizes)."""
    out: dict[str, Any] = {"class_counts": {}, "image_sizes": {}, "formats": {}}
    for split in sorted({s.candidate.split for s in good}, key=lambda s: (s != "train", s)):
        items = [s for s in good if s.candidate.split == split]
        labels = Counter(s.candidate.label for s in items)
        out["class_counts"][split] = {name: labels.get(i, 0) for i, name in enumerate(classes)}
        out["formats"][split] = dict(sorted(Counter(s.info.format for s in items).items()))
        widths = sorted(s.info.width for s in items)
        heights = sorted(s.info.height for s in items)
        common = Counter(f"{s.info.width}x{s.info.height}" for s in items).most_common(10)
        out["image_sizes"][split] = {
            "width": {"min": widths[0], "median": widths[len(widths) // 2], "max": widths[-1]},
            "height": {"min": heights[0], "median": heights[len(heights) // 2], "max": heights[-1]},
            "common": dict(common),
        }
    return out
