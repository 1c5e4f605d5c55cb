"""Stage 3, functions: the three Lambda handlers (serialize, classify, filter).

Each module has `handler(event, context)` and uses only the standard library and boto3 (plus
the stdlib-only `scones.config`, `scones.errors` and `scones.keys`), so it ships as a Lambda
zip unchanged. `scones.functions.runtime` runs them locally the way Lambda does.
"""

from __future__ import annotations

NAMES = ("serialize_image_data", "classify_image", "filter_inferences")

__all__ = ["NAMES"]
