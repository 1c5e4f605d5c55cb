"""Live figures from Prometheus text: parsing, rates between scrapes, histogram quantiles."""

from __future__ import annotations

import pytest

from scones.console.sources.endpoint_metrics import live, parse, quantile

TEXT = """
# TYPE scones_endpoint_requests counter
scones_endpoint_requests_total{{route="/invocations",status="200"}} {ok}
scones_endpoint_requests_total{{route="/invocations",status="400"}} {bad}
scones_endpoint_requests_total{{route="/metrics",status="200"}} 50
# TYPE scones_endpoint_invocation_seconds histogram
scones_endpoint_invocation_seconds_bucket{{le="0.005"}} {b1}
scones_endpoint_invocation_seconds_bucket{{le="0.01"}} {b2}
scones_endpoint_invocation_seconds_bucket{{le="+Inf"}} {b2}
scones_endpoint_invocation_seconds_count {b2}
scones_endpoint_invocation_seconds_sum {total}
# TYPE scones_capture_records_written counter
scones_capture_records_written_total {ok}
"""


def sample(at: float, ok: int, bad: int, b1: int, b2: int, total: float):  # type: ignore[no-untyped-def]
    return parse(TEXT.format(ok=ok, bad=bad, b1=b1, b2=b2, total=total), at)


def test_parse_counts_requests_but_not_scrapes() -> None:
    s = sample(10.0, ok=90, bad=10, b1=60, b2=100, total=0.5)
    assert (s.requests, s.errors) == (100, 10)
    assert s.latency_count == 100 and s.latency_sum == pytest.approx(0.5)
    assert s.other == {"capture_written": 90}


def test_rates_come_from_the_change_between_two_scrapes() -> None:
    first = sample(10.0, ok=90, bad=10, b1=60, b2=100, total=0.5)
    second = sample(12.0, ok=190, bad=10, b1=110, b2=200, total=1.1)
    figures = live(first, second)
    assert figures["rate"] == pytest.approx(50.0)  # 100 requests in 2 s
    assert figures["mean_latency_ms"] == pytest.approx(6.0)  # 0.6 s over 100 requests
    assert figures["p50_ms"] == pytest.approx(5.0)  # half of the new requests took <= 5 ms
    assert 5.0 < figures["p99_ms"] <= 10.0
    assert live(None, second)["rate"] is None  # one scrape: totals only
    assert live(None, second)["requests_total"] == 200


def test_a_restarted_endpoint_does_not_give_negative_rates() -> None:
    before = sample(10.0, ok=500, bad=0, b1=500, b2=500, total=1.0)
    after = sample(12.0, ok=3, bad=0, b1=3, b2=3, total=0.01)
    assert live(before, after)["rate"] is None


def test_quantile_interpolates_within_a_bucket() -> None:
    assert quantile(0.5, {0.01: 0.0, 0.02: 10.0, float("inf"): 10.0}) == pytest.approx(0.015)
    assert quantile(0.5, {}) is None
    assert quantile(0.99, {0.01: 0.0, float("inf"): 10.0}) == 0.01  # beyond the last bound: its lower edge


def test_a_shadows_copies_are_not_counted_as_requests() -> None:
    text = TEXT.format(ok=90, bad=10, b1=60, b2=100, total=0.5) + (
        'scones_endpoint_requests_total{route="shadow",status="200",variant="Peek"} 90\n'
    )
    assert parse(text, 1.0).requests == 100
