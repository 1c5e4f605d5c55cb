"""Live figures from Prometheus text: parsing, rates between scrapes, histogram quantiles;
and the same figures from a real endpoint's /metrics."""

from __future__ import annotations

import time

import httpx
import pytest

from scones.config import Settings
from scones.console.sources.endpoint_metrics import Scraper, live, parse, quantile
from scones.endpoint import registry
from scones.endpoint.service import EndpointConfig
from scones.storage import Store
from tests.helpers import png_bytes, tiny_artifact

TEXT = """
# TYPE scones_endpoint_requests counter
scones_endpoint_requests_total{{route="invocations",status="200"}} {ok}
scones_endpoint_requests_total{{route="invocations",status="400"}} {bad}
scones_endpoint_requests_total{{route="metrics",status="200"}} 50
scones_endpoint_requests_total{{route="ping",status="200"}} 30
scones_endpoint_requests_total{{route="other",status="404"}} 7
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


def test_a_real_endpoint_counts_invocations_not_scrapes_or_pings(settings: Settings) -> None:
    Store(settings).put(settings.bucket, "models/t/output/model.tar.gz", tiny_artifact().pack())
    record = registry.deploy(
        settings, EndpointConfig(name="counted", port=0), "s3://scones/models/t/output/model.tar.gz"
    )
    scraper = Scraper(None)
    try:
        png = {"Content-Type": "image/png"}
        for _ in range(7):
            assert httpx.post(f"{record.url}/invocations", content=png_bytes(), headers=png).status_code == 200
        for body in (b"not an image", b"nor this"):
            assert httpx.post(f"{record.url}/invocations", content=body, headers=png).status_code == 400
        for _ in range(5):  # what the console does on every page view: scrape and ping
            assert scraper.ping(record.url, timeout=2) and "error" not in scraper.figures("counted", record.url)
        httpx.get(f"{record.url}/no-such-route")
        figures = scraper.figures("counted", record.url)
        assert (figures["requests_total"], figures["errors_total"]) == (9, 2)
        time.sleep(1.0)
        assert scraper.figures("counted", record.url)["rate"] == 0  # nothing but scrapes since: no traffic
    finally:
        scraper.close()
        registry.delete(settings, "counted")


def test_a_shadows_copies_are_not_counted_as_requests() -> None:
    text = TEXT.format(ok=90, bad=10, b1=60, b2=100, total=0.5) + (
        'scones_endpoint_requests_total{route="shadow",status="200",variant="Peek"} 90\n'
    )
    assert parse(text, 1.0).requests == 100
