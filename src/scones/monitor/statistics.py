"""statistics.json in SageMaker Model Monitor's shape, for a baseline or a window.

SageMaker describes each feature with `numerical_statistics` (common counts, mean, sum,
std_dev, min, max and a bucketed distribution) or `string_statistics` (distinct values with
counts). scones uses the same shape for image features, confidence and the predicted class,
and adds a `scones` section for what SageMaker has no field for (rates, read problems).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BUCKETS = 10
_QUANTILES = (1, 5, 25, 50, 75, 95, 99)


def numeric_feature(name: str, values: np.ndarray, missing: int = 0) -> dict[str, Any]:
    """One numeric feature in SageMaker's layout (buckets: equal-width over the observed range)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    stats: dict[str, Any] = {"common": {"num_present": int(len(values)), "num_missing": int(missing)}}
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        counts, edges = np.histogram(values, bins=BUCKETS, range=(lo, hi if hi > lo else lo + 1e-9))
        quantiles = np.quantile(values, np.asarray(_QUANTILES) / 100)
        stats.update(
            mean=float(values.mean()),
            sum=float(values.sum()),
            std_dev=float(values.std()),
            min=lo,
            max=hi,
            distribution={
                "kll": {
                    "buckets": [
                        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": int(c)}
                        for i, c in enumerate(counts)
                    ],
                    "quantiles": {f"p{q:02d}": float(v) for q, v in zip(_QUANTILES, quantiles, strict=True)},
                }
            },
        )
    return {"name": name, "inferred_type": "Fractional", "numerical_statistics": stats}


def categorical_feature(name: str, counts: Mapping[str, int]) -> dict[str, Any]:
    total = int(sum(counts.values()))
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": total, "num_missing": 0},
            "distinct_count": sum(1 for c in counts.values() if c),
            "distribution": {"categorical": {"buckets": [{"value": k, "count": int(v)} for k, v in counts.items()]}},
        },
    }


def document(item_count: int, features: Sequence[dict[str, Any]], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The whole statistics.json."""
    return {
        "version": 0.0,
        "dataset": {"item_count": int(item_count)},
        "features": list(features),
        "scones": dict(extra),
    }


def feature_means(doc: Mapping[str, Any]) -> dict[str, float]:
    """name -> mean for the numeric features of a statistics document (for reports)."""
    means: dict[str, float] = {}
    for feature in doc.get("features", []):
        numbers = feature.get("numerical_statistics") or {}
        if "mean" in numbers:
            means[feature["name"]] = float(numbers["mean"])
    return means
