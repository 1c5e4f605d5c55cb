"""Stage 1, data: stage CIFAR-100 classes or your own images (+ .lst files, manifest) in a bucket.

Entry points: `stage` (archive, image folder, .lst folder or augmented manifest -> bucket) and,
for later stages, `read_split` and `read_manifest` (bucket -> arrays). Imported lazily so
`import scones.data` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["DEFAULT_SOURCE", "Split", "StageOptions", "StageResult", "read_manifest", "read_split", "stage"]

_HOMES = {
    "DEFAULT_SOURCE": "scones.data.stage",
    "StageResult": "scones.data.stage",
    "StageOptions": "scones.data.build",
    "stage": "scones.data.stage",
    "Split": "scones.data.dataset",
    "read_manifest": "scones.data.dataset",
    "read_split": "scones.data.dataset",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scones.data' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
