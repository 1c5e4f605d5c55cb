"""Rollback triggers: the candidate's traffic judged against the old model's over the same window.

A `Watch` scrapes the endpoint's /metrics (several connections per look, so with --workers N
every worker is seen; each page names its process in `scones_endpoint_model_info{pid}`) and
keeps, per worker and variant, the counters at the window's start and now. The difference,
summed over workers, is the window's `Figures`: requests, errors, the latency histogram and
the histogram of each answer's top probability.

`judge` fires the first trigger whose threshold the candidate crosses (once it has answered
`min_requests` in the window): error rate above the old model's by more than
`max_error_rate_increase`, p99 latency above `max_p99_ratio` times the old p99 plus
`p99_slack_ms`, or a low-confidence rate above the old one by more than
`max_low_confidence_increase`, or, on the share of its requests mirrored to the old model
(`compare_share`, off the request path: `shadow.Mirror.compare`), a disagreement rate above
`max_disagreement` once `min_comparisons` were made. AWS rolls back on CloudWatch alarms wired by hand; here the
figures are the models' own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scones.errors import ConfigError

LOOKS_PER_SCRAPE = 6  # new connections per look: the kernel spreads them over the workers


@dataclass(frozen=True)
class Triggers:
    """Rollback thresholds (each comparison is candidate minus, or over, old in the same window)."""

    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 3.0
    p99_slack_ms: float = 50.0
    max_low_confidence_increase: float = 0.10
    low_confidence_below: float = 0.93  # a bucket bound of metrics.CONFIDENCE_BUCKETS
    min_requests: int = 20
    max_disagreement: float = 0.25
    compare_share: float = 0.25  # of the candidate's requests, mirrored to the old model; 0 turns the trigger off
    min_comparisons: int = 20

    def __post_init__(self) -> None:
        if self.min_requests < 1 or self.max_p99_ratio <= 0:
            raise ConfigError("Rollback triggers need min_requests >= 1 and a positive p99 ratio")
        if not 0 <= self.compare_share <= 1 or not 0 <= self.max_disagreement <= 1 or self.min_comparisons < 1:
            raise ConfigError(
                "--compare-percent and --max-disagreement are shares: give 0 to 100 and 0 to 1; min comparisons >= 1"
            )


@dataclass
class Figures:
    """One variant over one window (summed over worker processes)."""

    requests: float = 0.0
    errors: float = 0.0
    latency: dict[float, float] = field(default_factory=dict)  # cumulative histogram buckets, seconds
    confidence: dict[float, float] = field(default_factory=dict)
    compared: float = 0.0  # mirrored comparisons with the old model, and how many predicted another class
    disagreed: float = 0.0

    def disagreement_rate(self) -> float | None:
        return self.disagreed / self.compared if self.compared else None

    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def p99_ms(self) -> float | None:
        q = quantile(0.99, self.latency)
        return None if q is None else 1000 * q

    def low_confidence_rate(self, below: float) -> float:
        total = self.confidence.get(float("inf"), 0.0)
        under = max((count for bound, count in self.confidence.items() if bound < below + 1e-9), default=0.0)
        return under / total if total else 0.0

    def summary(self, below: float) -> dict[str, Any]:
        p99 = self.p99_ms()
        return {
            "requests": self.requests, "error_rate": round(self.error_rate(), 4),
            "p99_ms": None if p99 is None else round(p99, 2),
            "low_confidence_rate": round(self.low_confidence_rate(below), 4),
            **({"compared": self.compared, "disagreement_rate": round(self.disagreed / self.compared, 4)}
               if self.compared else {}),
        }  # fmt: skip


_Counts = dict[str, Figures]  # variant -> cumulative counters of one worker


class Watch:
    """Windows of per-variant figures from a running endpoint's /metrics."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.token = url, token
        self._start: dict[str, _Counts] = {}
        self._now: dict[str, _Counts] = {}

    def look(self) -> None:
        import httpx

        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        for _ in range(LOOKS_PER_SCRAPE):
            try:
                with httpx.Client(timeout=5) as client:  # a new connection: maybe another worker
                    pid, counts = _parse(client.get(f"{self.url}/metrics", headers=headers).text)
            except httpx.HTTPError:
                continue
            self._now[pid] = counts
            self._start.setdefault(pid, counts)

    def restart(self) -> None:
        """A new window from the latest look."""
        self._start = dict(self._now)

    def window(self) -> dict[str, Figures]:
        """variant -> figures since the window started."""
        total: dict[str, Figures] = defaultdict(Figures)
        for pid, now in self._now.items():
            start = self._start.get(pid, {})
            for variant, figures in now.items():
                before = start.get(variant, Figures())
                into = total[variant]
                into.requests += figures.requests - before.requests
                into.errors += figures.errors - before.errors
                into.compared += figures.compared - before.compared
                into.disagreed += figures.disagreed - before.disagreed
                for mine, theirs, base in ((into.latency, figures.latency, before.latency),
                                           (into.confidence, figures.confidence, before.confidence)):  # fmt: skip
                    for bound, count in theirs.items():
                        mine[bound] = mine.get(bound, 0.0) + count - base.get(bound, 0.0)
        return dict(total)


def judge(old: Figures | None, new: Figures, triggers: Triggers) -> tuple[str, dict[str, Any]] | None:
    """(trigger name, the figures that tripped it), or None while the candidate holds up."""
    if new.requests < triggers.min_requests:
        return None
    below = triggers.low_confidence_below
    figures = {"candidate": new.summary(below), "old": old.summary(below) if old else None}
    old_errors = old.error_rate() if old else 0.0
    if new.error_rate() - old_errors > triggers.max_error_rate_increase:
        return "error_rate", figures
    new_p99, old_p99 = new.p99_ms(), old.p99_ms() if old else None
    if (
        new_p99 is not None
        and old_p99 is not None
        and new_p99 > old_p99 * triggers.max_p99_ratio + triggers.p99_slack_ms
    ):
        return "p99_latency", figures
    old_low = old.low_confidence_rate(below) if old else 0.0
    if new.low_confidence_rate(below) - old_low > triggers.max_low_confidence_increase:
        return "low_confidence", figures
    disagreement = new.disagreement_rate()
    if (
        disagreement is not None
        and new.compared >= triggers.min_comparisons
        and disagreement > triggers.max_disagreement
    ):
        return "disagreement", figures
    return None


def _parse(text: str) -> tuple[str, _Counts]:
    from prometheus_client.parser import text_string_to_metric_families

    pid, counts = "", defaultdict[str, Figures](Figures)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            variant = s.labels.get("variant", "")
            if s.name == "scones_endpoint_model_info":
                pid = s.labels.get("pid", "")
            elif s.name == "scones_endpoint_requests_total" and s.labels.get("route") == "invocations":
                counts[variant].requests += s.value
                if not s.labels.get("status", "").startswith("2"):
                    counts[variant].errors += s.value
            elif s.name == "scones_endpoint_mirror_comparisons_total":
                counts[variant].compared += s.value
                if s.labels.get("agreed") == "no":
                    counts[variant].disagreed += s.value
            elif s.name == "scones_endpoint_invocation_seconds_bucket":
                counts[variant].latency[float(s.labels["le"])] = s.value
            elif s.name == "scones_endpoint_top_probability_bucket":
                counts[variant].confidence[float(s.labels["le"])] = s.value
    return pid, dict(counts)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket that holds rank q."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank, previous_bound, previous_count = q * buckets[bounds[-1]], 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound
