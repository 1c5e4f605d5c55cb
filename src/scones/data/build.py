"""Building a dataset folder from a listing of your own files (`scones.data.sources`), for `stage` to publish.

Every candidate is scanned (`scones.data.scan`: read once, hashed, checked, copied as it is);
bad files and train/test duplicates stop here, before `stage` writes anything to the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scones.data.dataset import LstEntry, format_lst
from scones.data.scan import refuse_bad, refuse_leak, scan, statistics
from scones.data.sources import SPLITS, Listing
from scones.errors import DataError
from scones.progress import Progress


@dataclass(frozen=True)
class StageOptions:
    """How a folder or augmented-manifest source is staged (the CIFAR archive ignores these).

    Attributes:
        test_fraction: share of each class held out as test when the source has no train/test
            split of its own (stratified, seeded by `seed`); 0 stages train only.
        label_attribute: the augmented manifest's attribute that holds the class.
        skip_bad: leave out unreadable, truncated or oversized files (default: refuse to stage).
        allow_leak: stage even when one image is in both train and test (default: refuse).
    """

    test_fraction: float = 0.2
    seed: int = 0
    label_attribute: str = "class"
    skip_bad: bool = False
    allow_leak: bool = False


def build_from_listing(
    listing: Listing, build: Path, options: StageOptions, progress: Progress, *, given: bool
) -> dict[str, Any]:
    """Check and copy a listing's files as they are into `build`, write the .lst files; the manifest's fields.

    Refuses bad files and train/test leaks unless `options` allow them; `given`: the classes came from --classes.
    """
    found = scan(listing.candidates, build, progress)
    if found.bad and not options.skip_bad:
        refuse_bad(found.bad)
    within, across = found.duplicates()
    if across and not options.allow_leak:
        refuse_leak(across)
    if not any(s.candidate.split == "train" for s in found.good):
        raise DataError("No readable training images are left; add images to the train split")
    fingerprint = hashlib.md5(usedforsecurity=False)
    counts: dict[str, int] = {}
    for split in SPLITS:
        items = [s for s in found.good if s.candidate.split == split]
        if not items:
            continue
        entries = [
            LstEntry(i if s.candidate.index is None else s.candidate.index, s.candidate.label, s.candidate.path)
            for i, s in enumerate(items)
        ]
        text = format_lst(entries)
        (build / f"{split}.lst").write_text(text, encoding="utf-8")
        fingerprint.update(text.encode())
        fingerprint.update("".join(s.sha256 for s in items).encode())
        counts[split] = len(entries)
    order = "as given by --classes" if given else ORDERS[listing.layout]
    return {
        "classes": list(listing.classes),
        "label_order": f"label i is classes[i], {order}",
        "layout": listing.layout,
        "counts": counts,
        **statistics(found.good, listing.classes),
        "duplicates": {"within_split": within, "across_splits": across},
        "skipped": [{"file": b.origin, "reason": b.reason} for b in found.bad],
        "fine_labels": None,
        "source_md5": fingerprint.hexdigest(),
    }


ORDERS = {
    "folders": "class folders sorted by name",
    "split folders": "class folders sorted by name",
    "lst": "the .lst labels",
    "augmented manifest": "the manifest's class indexes (or its class names sorted)",
}
