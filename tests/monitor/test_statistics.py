from __future__ import annotations

import numpy as np

from scones.monitor.statistics import categorical_feature, document, feature_means, numeric_feature


def test_sagemaker_shapes() -> None:
    numeric = numeric_feature("image.brightness", np.asarray([0.1, 0.2, np.nan, 0.3]), missing=1)
    stats = numeric["numerical_statistics"]
    assert numeric["inferred_type"] == "Fractional" and stats["common"] == {"num_present": 3, "num_missing": 1}
    assert abs(stats["mean"] - 0.2) < 1e-9 and stats["min"] == 0.1 and stats["max"] == 0.3
    assert sum(b["count"] for b in stats["distribution"]["kll"]["buckets"]) == 3
    categorical = categorical_feature("predicted_label", {"bicycle": 3, "motorcycle": 0})
    assert categorical["string_statistics"]["distinct_count"] == 1
    doc = document(4, [numeric, categorical], {"kind": "window"})
    assert doc["dataset"] == {"item_count": 4} and feature_means(doc) == {"image.brightness": stats["mean"]}
    assert numeric_feature("empty", np.asarray([]))["numerical_statistics"]["common"]["num_present"] == 0
