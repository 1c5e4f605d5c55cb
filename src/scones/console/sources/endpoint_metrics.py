"""Live request rate and latency of an endpoint, from two scrapes of its /metrics.

Prometheus counters only grow, so a rate needs two samples: the console keeps the last
scrape per endpoint and reports the change since then (requests/s, mean latency, and
p50/p99 estimated from the latency histogram's buckets, as Prometheus' histogram_quantile).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUESTS = "scones_endpoint_requests"
LATENCY = "scones_endpoint_invocation_seconds"
SCRAPE_TIMEOUT_S = 1.0
# The endpoint labels requests by route: invocations, ping, metrics or other (endpoint/app.py).
# Traffic is invocations only: the console's own scrapes and health checks are not.
TRAFFIC_ROUTE = "invocations"


@dataclass
class Sample:
    at: float
    requests: float = 0.0
    errors: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    other: dict[str, float] = field(default_factory=dict)


def parse(text: str, at: float) -> Sample:
    """The figures the console shows, from Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    sample = Sample(at=at)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            # only what callers asked for: not scrapes, pings, nor a shadow's copies (route "shadow")
            if s.name == f"{REQUESTS}_total" and s.labels.get("route") == TRAFFIC_ROUTE:
                sample.requests += s.value
                if not str(s.labels.get("status", "200")).startswith("2"):
                    sample.errors += s.value
            elif s.name == f"{LATENCY}_sum":
                sample.latency_sum += s.value
            elif s.name == f"{LATENCY}_count":
                sample.latency_count += s.value
            elif s.name == f"{LATENCY}_bucket":
                bound = float(s.labels["le"])
                sample.buckets[bound] = sample.buckets.get(bound, 0.0) + s.value
            elif s.name.startswith("scones_capture_records_") and s.name.endswith("_total"):
                key = s.name.removeprefix("scones_capture_records_").removesuffix("_total")
                sample.other[f"capture_{key}"] = sample.other.get(f"capture_{key}", 0.0) + s.value
    return sample


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Estimate quantile q from cumulative bucket counts (linear within the bucket)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def live(previous: Sample | None, current: Sample) -> dict[str, Any]:
    """Rates over the interval since `previous` (totals only, on the first scrape)."""
    figures: dict[str, Any] = {
        "requests_total": current.requests,
        "errors_total": current.errors,
        "mean_latency_ms_overall": (1000 * current.latency_sum / current.latency_count)
        if current.latency_count
        else None,
        **current.other,
    }
    if previous is None or current.at <= previous.at or current.requests < previous.requests:
        figures.update(rate=None, mean_latency_ms=None, p50_ms=None, p99_ms=None, interval_s=None)
        return figures
    span = current.at - previous.at
    count = current.latency_count - previous.latency_count
    delta = {b: current.buckets.get(b, 0.0) - previous.buckets.get(b, 0.0) for b in current.buckets}
    p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
    figures.update(
        rate=(current.requests - previous.requests) / span,
        mean_latency_ms=(1000 * (current.latency_sum - previous.latency_sum) / count) if count > 0 else None,
        p50_ms=None if p50 is None else p50 * 1000,
        p99_ms=None if p99 is None else p99 * 1000,
        interval_s=span,
    )
    return figures


class Scraper:
    """Scrapes endpoints' /metrics (and /ping) and remembers the last sample of each.

    One HTTP client for the process: creating one per request costs tens of milliseconds
    (connection pool and TLS context), more than the scrape itself.
    """

    def __init__(self, auth_token: str | None) -> None:
        self.headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self._last: dict[str, Sample] = {}
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(headers=self.headers, timeout=SCRAPE_TIMEOUT_S)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def ping(self, url: str, timeout: float) -> bool:
        """True when the endpoint's /ping answers 200 within `timeout` seconds."""
        try:
            return self.client.get(url.rstrip("/") + "/ping", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def figures(self, name: str, url: str) -> dict[str, Any]:
        """Live figures of endpoint `name` at `url`; {'error': ...} when it does not answer."""
        try:
            response = self.client.get(url.rstrip("/") + "/metrics")
            response.raise_for_status()
            current = parse(response.text, time.monotonic())
        except (httpx.HTTPError, ValueError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            previous = self._last.get(name)
            # Keep the older sample until a second has passed, so rates are over a useful span.
            if previous is None or current.at - previous.at >= 1.0:
                self._last[name] = current
        return live(previous, current)
