"""The checks: a window of captured data against its baseline.

Every distribution check has two gates, and fires only when both are passed:
  1. significance: the test's p-value is below its share of the run's `alpha`; the run's
     tests are split equally over the checks with p-values that the run makes (five, six
     with labels: an idle accuracy check would waste a sixth of the budget), and over the
     image features within the feature check (Bonferroni), so a window drawn from the
     baseline's distribution raises a violation with probability at most `alpha` per run;
  2. effect size: the measured distance is at least the check's minimum (a KS statistic,
     a Jensen-Shannon distance, a rise in a rate, a squared MMD), because on large windows
     every negligible difference is significant ("KS flags everything").
Rate checks on data quality have thresholds instead (a rate and a minimum count).
Why these defaults: docs/monitoring.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scones.monitor.constraints import MonitorConfig
from scones.monitor.features import FEATURES

P_VALUE_CHECKS = 6  # prediction, confidence, low confidence, features, embeddings, accuracy (with labels)


def check_alpha(config: MonitorConfig, labelled: bool = True) -> float:
    """One check's share of the run's alpha: the accuracy check takes a share only when it runs."""
    return config.alpha / (P_VALUE_CHECKS if labelled else P_VALUE_CHECKS - 1)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one feature."""

    check_type: str
    feature_name: str
    method: str
    statistic: float | None  # the effect size measured
    threshold: float | None  # the effect size that matters
    p_value: float | None
    alpha: float | None  # the significance this test was held to
    violated: bool
    evaluated: bool
    description: str

    def violation(self) -> dict[str, str]:
        """The entry in constraint_violations.json (SageMaker's shape)."""
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.check_type,
            "description": self.description,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _not_evaluated(check_type: str, feature: str, method: str, why: str) -> CheckResult:
    return CheckResult(check_type, feature, method, None, None, None, None, False, False, f"Not evaluated: {why}")


def _result(
    check_type: str, feature: str, method: str, effect: float, threshold: float, p: float, alpha: float, what: str
) -> CheckResult:
    violated = p < alpha and effect >= threshold
    verdict = "drift" if violated else "no drift"
    description = (
        f"{what}: {method} effect {effect:.4g} (threshold {threshold:g}), "
        f"p-value {p:.3g} (alpha {alpha:.3g}): {verdict}"
    )
    return CheckResult(
        check_type, feature, method, float(effect), threshold, float(p), alpha, violated, True, description
    )


def prediction_drift(
    base_counts: np.ndarray, counts: np.ndarray, classes: Sequence[str], config: MonitorConfig, labelled: bool = True
) -> CheckResult:
    """Class mix: chi-squared test of homogeneity (2 x K) and the Jensen-Shannon distance."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    method = "chi-squared, Jensen-Shannon distance"
    if counts.sum() < config.min_samples or base_counts.sum() == 0:
        return _not_evaluated(
            "prediction_drift_check", "predicted_label", method, f"fewer than {config.min_samples} answers"
        )
    table = np.vstack([base_counts, counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    p = 1.0 if table.shape[1] < 2 else float(chi2_contingency(table, correction=False).pvalue)
    js = float(jensenshannon(base_counts / base_counts.sum(), counts / counts.sum(), base=2))
    mix = ", ".join(f"{c} {n / counts.sum():.0%}" for c, n in zip(classes, counts, strict=True))
    base = ", ".join(f"{n / base_counts.sum():.0%}" for n in base_counts)
    what = f"predicted classes {mix} (baseline {base})"
    alpha = check_alpha(config, labelled)
    return _result("prediction_drift_check", "predicted_label", method, js, config.prediction_min_js, p, alpha, what)


def ks_check(
    check_type: str, feature: str, reference: np.ndarray, values: np.ndarray, alpha: float, threshold: float, min_n: int
) -> CheckResult:
    """Two-sample Kolmogorov-Smirnov test of a numeric feature, gated by the KS statistic."""
    from scipy.stats import ks_2samp

    method = "Kolmogorov-Smirnov"
    if len(values) < min_n or len(reference) < 2:
        return _not_evaluated(check_type, feature, method, f"fewer than {min_n} values in the window")
    exact = len(values) * len(reference) <= 250_000  # exact p-values while cheap, asymptotic beyond
    test = ks_2samp(reference, values, method="exact" if exact else "asymp")
    shift = float(np.median(values) - np.median(reference))
    what = f"{feature} median {np.median(values):.4g} vs baseline {np.median(reference):.4g} ({shift:+.3g})"
    return _result(check_type, feature, method, float(test.statistic), threshold, float(test.pvalue), alpha, what)


def low_confidence(
    base_max_prob: np.ndarray, low: int, answers: int, threshold: float, config: MonitorConfig, labelled: bool = True
) -> CheckResult:
    """Share of answers below the filter's threshold: one-sided Fisher exact test + minimum rise."""
    from scipy.stats import fisher_exact

    method = "Fisher exact (one-sided), rise in rate"
    feature = f"low_confidence_rate@{threshold:g}"
    if answers < config.min_samples or len(base_max_prob) == 0:
        return _not_evaluated("low_confidence_check", feature, method, f"fewer than {config.min_samples} answers")
    base_low = int((base_max_prob < threshold).sum())
    base_n = len(base_max_prob)
    table = [[low, answers - low], [base_low, base_n - base_low]]
    p = float(fisher_exact(table, alternative="greater").pvalue)
    rate, base_rate = low / answers, base_low / base_n
    what = f"{rate:.1%} of answers below {threshold:g} (baseline {base_rate:.1%})"
    alpha = check_alpha(config, labelled)
    return _result(
        "low_confidence_check", feature, method, rate - base_rate, config.low_confidence_min_increase, p, alpha, what
    )


def accuracy(base_correct: int, base_n: int, correct: int, labelled: int, config: MonitorConfig) -> CheckResult:
    """Accuracy on labelled records against the baseline's held-out accuracy (one-sided Fisher)."""
    from scipy.stats import fisher_exact

    method = "Fisher exact (one-sided), fall in accuracy"
    if labelled < config.min_samples or base_n == 0:
        why = f"{labelled} labelled records, fewer than {config.min_samples}" if base_n else "baseline has no labels"
        return _not_evaluated("model_quality_check", "accuracy", method, why)
    table = [[labelled - correct, correct], [base_n - base_correct, base_correct]]
    p = float(fisher_exact(table, alternative="greater").pvalue)
    acc, base_acc = correct / labelled, base_correct / base_n
    what = f"accuracy {acc:.1%} on {labelled} labelled records (baseline {base_acc:.1%})"
    alpha = check_alpha(config)
    return _result("model_quality_check", "accuracy", method, base_acc - acc, config.accuracy_min_drop, p, alpha, what)


def feature_drift(
    reference: np.ndarray, values: np.ndarray, config: MonitorConfig, labelled: bool = True
) -> list[CheckResult]:
    """One KS check per image feature, Bonferroni-corrected over the features."""
    alpha = check_alpha(config, labelled) / len(FEATURES)
    return [
        ks_check(
            "baseline_drift_check",
            f"image.{name}",
            reference[:, j],
            values[:, j],
            alpha,
            config.feature_min_ks,
            config.min_samples,
        )
        for j, name in enumerate(FEATURES)
    ]


def mmd_test(
    reference: np.ndarray, values: np.ndarray, permutations: int, sample: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """(unbiased squared MMD, permutation p-value, bandwidth) with an RBF kernel.

    Each side is subsampled to `sample` rows (cost O((2 * sample)^2 * permutations)); the
    bandwidth is the median pairwise distance within the reference sample.
    """
    x = _subsample(reference, sample, rng).astype(np.float64)
    y = _subsample(values, sample, rng).astype(np.float64)
    z = np.vstack([x, y])
    sq = np.square(z).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    ref = d2[: len(x), : len(x)][np.triu_indices(len(x), k=1)]
    bandwidth2 = float(np.median(ref)) if len(ref) else 1.0
    if bandwidth2 <= 0:
        bandwidth2 = float(ref.mean()) if len(ref) and ref.mean() > 0 else 1.0
    kernel = np.exp(-d2 / (2 * bandwidth2)).astype(np.float32)
    np.fill_diagonal(kernel, 0.0)  # unbiased estimate: no i == j terms
    n, m = len(x), len(y)
    observed = np.zeros((n + m, 1), dtype=np.float32)
    observed[:n] = 1
    stat = _mmd2(kernel, observed, n, m)[0]
    exceed = 0
    for start in range(0, permutations, 200):  # bounded memory: (n + m) x 200 at a time
        count = min(200, permutations - start)
        labels = np.zeros((n + m, count), dtype=np.float32)
        for c in range(count):
            labels[rng.permutation(n + m)[:n], c] = 1
        exceed += int((_mmd2(kernel, labels, n, m) >= stat - 1e-12).sum())
    return float(stat), (exceed + 1) / (permutations + 1), math.sqrt(bandwidth2)


def _mmd2(kernel: np.ndarray, labels: np.ndarray, n: int, m: int) -> np.ndarray:
    """Unbiased MMD^2 for each column of 0/1 labels (1 = first sample); kernel has a zero diagonal."""
    ks = kernel @ labels  # (N, B)
    row = kernel.sum(axis=1, dtype=np.float64)
    total = row.sum()
    sxx = (labels * ks).sum(axis=0, dtype=np.float64)
    sx1 = labels.T.astype(np.float64) @ row
    sxy = sx1 - sxx
    syy = total - 2 * sx1 + sxx
    result: np.ndarray = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    return result


def _subsample(values: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= size:
        return values
    return values[rng.choice(len(values), size, replace=False)]


def embedding_drift(
    reference: np.ndarray | None, values: np.ndarray | None, config: MonitorConfig, labelled: bool = True
) -> CheckResult:
    method = "MMD permutation test (RBF kernel, median-heuristic bandwidth)"
    if reference is None or values is None or len(reference) < 2:
        return _not_evaluated("embedding_drift_check", "embedding", method, "the model or baseline has no embeddings")
    if len(values) < config.min_samples:
        return _not_evaluated("embedding_drift_check", "embedding", method, f"fewer than {config.min_samples} images")
    rng = np.random.default_rng(config.seed)
    stat, p, bandwidth = mmd_test(reference, values, config.permutations, config.embedding_sample, rng)
    sides = f"{min(len(reference), config.embedding_sample)} vs {min(len(values), config.embedding_sample)}"
    what = f"embeddings ({sides} sampled, bandwidth {bandwidth:.3g})"
    alpha = check_alpha(config, labelled)
    return _result("embedding_drift_check", "embedding", method, stat, config.embedding_min_mmd2, p, alpha, what)


QUALITY = (  # (feature, count, denominator, what)
    ("undecodable_inputs", "undecodable", "inputs", "inputs that are not readable images"),
    ("unexpected_content_type", "unexpected_content_type", "inputs", "inputs not sent as image content types"),
    ("blank_images", "blank_images", "decoded", "images of one flat colour"),
    ("error_responses", "error_responses", "records", "responses that are not probability lists"),
    ("wrong_class_count", "wrong_class_count", "records", "responses with a different number of classes"),
)


def data_quality(counts: dict[str, int], read: dict[str, Any], config: MonitorConfig) -> list[CheckResult]:
    """Rates of bad inputs and outputs against `quality_max_rate` (and `quality_min_count`)."""
    rows = [(feature, counts[c], counts[d], what) for feature, c, d, what in QUALITY]
    rows.append(
        (
            "corrupt_capture_lines",
            int(read.get("corrupt_lines", 0)),
            int(read.get("lines", 0)),
            "corrupt captured lines",
        )
    )
    files = int(read.get("files", 0))
    rows.append(("corrupt_capture_files", int(read.get("corrupt_files", 0)), files, "unreadable captured files"))
    results = []
    for feature, count, total, what in rows:
        rate = count / total if total else 0.0
        violated = count >= config.quality_min_count and rate > config.quality_max_rate
        verdict = "violation" if violated else "ok"
        description = (
            f"{count} {what} of {total} ({rate:.2%}; tolerated {config.quality_max_rate:.2%} "
            f"and fewer than {config.quality_min_count}): {verdict}"
        )
        results.append(
            CheckResult(
                "data_quality_check",
                feature,
                "rate",
                rate,
                config.quality_max_rate,
                None,
                None,
                violated,
                True,
                description,
            )
        )
    return results


def evaluate(baseline: Any, window: Any, embeddings: np.ndarray | None, labelled: bool = False) -> list[CheckResult]:
    """Every check of a window (`scones.monitor.window.Window`) against a baseline, in report order."""
    config: MonitorConfig = baseline.config
    alpha = check_alpha(config, labelled)
    results = [
        prediction_drift(baseline.class_counts, window.class_counts, baseline.classes, config, labelled),
        ks_check(
            "confidence_drift_check",
            "max_probability",
            baseline.max_probability,
            window.column("max_probability"),
            alpha,
            config.confidence_min_ks,
            config.min_samples,
        ),
        low_confidence(
            baseline.max_probability,
            window.counts["low_confidence"],
            window.counts["outputs"],
            window.threshold,
            config,
            labelled,
        ),
    ]
    if window.counts["decoded"]:
        results += feature_drift(baseline.features, window.features(), config, labelled)
    else:
        why = "no decodable requests in the window (were requests captured?)"
        results.append(_not_evaluated("baseline_drift_check", "image", "Kolmogorov-Smirnov", why))
    results.append(embedding_drift(baseline.embeddings, embeddings, config, labelled))
    if labelled:
        base_n = 0 if baseline.labels is None else len(baseline.labels)
        results.append(accuracy(baseline.correct, base_n, window.counts["correct"], window.counts["labelled"], config))
    results += data_quality(window.counts, window.read, config)
    return results


def violations_document(results: Sequence[CheckResult]) -> dict[str, Any]:
    """constraint_violations.json: SageMaker's shape, one entry per violated check."""
    return {"violations": [r.violation() for r in results if r.violated]}
