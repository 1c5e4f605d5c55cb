"""What counts as a violation: the monitor's thresholds, as a config and as constraints.json.

`MonitorConfig` holds the defaults (overridable with SCONES_MONITOR_* variables). A baseline
writes them into `constraints.json`, in the spirit of SageMaker Model Monitor's file (a
`features` list and a `monitoring_config`), plus a `scones` section with every check's
thresholds. A run reads them back from the baseline's file, so tuning a monitor is editing
that file, as with SageMaker. Why these defaults: docs/monitoring.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from scones.config import resolve
from scones.errors import MonitorError

ENV_PREFIX = "SCONES_MONITOR_"
CHECK_TYPES = {
    "prediction_drift_check": "the mix of predicted classes moved away from the baseline's",
    "confidence_drift_check": "the distribution of confidence (max-probability) moved",
    "low_confidence_check": "more answers fall below the filter's threshold than in the baseline",
    "baseline_drift_check": "an image feature's distribution moved (SageMaker's name for feature drift)",
    "embedding_drift_check": "the model's penultimate-layer embeddings moved (MMD test)",
    "data_quality_check": "undecodable or odd inputs, error responses or corrupt capture files",
    "model_quality_check": "accuracy on labelled records fell below the baseline's",
}


@dataclass(frozen=True)
class MonitorConfig:
    """The monitor's thresholds and sampling limits.

    Attributes:
        alpha: run-level false-alarm bound: the significance of all tests of one run together
            (split equally over the checks, then Bonferroni over the features). Under a third
            of the 1% goal: the checks look at nearly independent things (pixels, outputs,
            embeddings), so the bound is nearly reached, and at 0.01 or 0.005 some window
            size read above 1% on 200 same-distribution windows (docs/monitoring.md).
        min_samples: a distribution check needs this many records in the window, else it is
            reported as not evaluated rather than guessed.
        prediction_min_js: Jensen-Shannon distance (base 2) between class mixes that matters.
        confidence_min_ks: KS statistic on max-probability that matters.
        low_confidence_min_increase: rise in the share of answers below the threshold that matters.
        feature_min_ks: KS statistic on an image feature that matters.
        embedding_min_mmd2: squared MMD (RBF kernel, unbiased) between embeddings that matters.
        embedding_sample: embeddings per side for the MMD test (bounds its cost).
        permutations: permutations of the MMD test (p-values down to 1/(permutations+1)).
        accuracy_min_drop: fall in accuracy on labelled records that matters.
        quality_max_rate: largest tolerated share of undecodable inputs, error responses,
            unexpected content types, blank images or corrupt lines.
        quality_min_count: and at least this many such events before they are a violation.
        max_rows: records kept in a window's uniform sample (bounds memory).
        grid_images: images in the report's grid.
        batch_size: records decoded and measured together.
        workers: processes that read a large window (decoding images is the cost).
        parallel_min_mb: windows smaller than this many MB of files are read in-process.
        seed: for sampling and permutations (a run is reproducible).
    """

    alpha: float = 0.003
    min_samples: int = 30
    prediction_min_js: float = 0.1
    confidence_min_ks: float = 0.1
    low_confidence_min_increase: float = 0.05
    feature_min_ks: float = 0.1
    embedding_min_mmd2: float = 0.05
    embedding_sample: int = 500
    permutations: int = 2000  # >= 6 / alpha: the test's smallest p-value, 1 / 2001, is below its share
    accuracy_min_drop: float = 0.05
    quality_max_rate: float = 0.01
    quality_min_count: int = 3
    max_rows: int = 100_000
    grid_images: int = 16
    batch_size: int = 256
    workers: int = 2
    parallel_min_mb: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise MonitorError(f"Monitor 'alpha' is {self.alpha}; give a significance between 0 and 1, e.g. 0.01")
        for name in ("min_samples", "embedding_sample", "permutations", "max_rows", "batch_size"):
            if getattr(self, name) < 1:
                raise MonitorError(f"Monitor '{name}' is {getattr(self, name)}; give a positive number")


def load_config(**flags: Any) -> MonitorConfig:
    """MonitorConfig from flags, then SCONES_MONITOR_* variables, then defaults."""
    return resolve(MonitorConfig, flags, ENV_PREFIX)


def constraints_document(config: MonitorConfig, feature_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """constraints.json: SageMaker's layout, with scones' checks and thresholds added."""
    features = []
    for feature in feature_stats:
        entry: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": 1.0,
        }
        numbers = feature.get("numerical_statistics")
        if numbers:
            entry["num_constraints"] = {"is_non_negative": bool(numbers["min"] >= 0)}
        features.append(entry)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": config.feature_min_ks,
                "comparison_method": "KolmogorovSmirnov",
                "categorical_comparison_threshold": config.prediction_min_js,
                "categorical_drift_method": "JensenShannon",
            },
        },
        "scones": {"check_types": CHECK_TYPES, "config": dataclasses.asdict(config)},
    }


def config_from_constraints(document: Any, source: str = "constraints.json") -> MonitorConfig:
    """The MonitorConfig a constraints.json asks for (fields it omits keep their defaults)."""
    section = document.get("scones", {}).get("config") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise MonitorError(f"{source} has no 'scones.config' section; re-create it with 'scones monitor baseline'")
    known = {f.name for f in dataclasses.fields(MonitorConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise MonitorError(f"{source} sets unknown thresholds {', '.join(unknown)}; see docs/monitoring.md")
    types = {f.name: f.type for f in dataclasses.fields(MonitorConfig)}
    values: dict[str, Any] = {}
    for name, value in section.items():
        wanted = int if types[name] in ("int", int) else float
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MonitorError(f"{source}: threshold '{name}' is {value!r}; give a number")
        values[name] = wanted(value)
    return MonitorConfig(**values)
