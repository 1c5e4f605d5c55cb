"""Prometheus metrics of one endpoint process (a registry per service, so tests can run several).

Each variant's service keeps its own `Metrics`; `render` merges them into one page, every
sample labelled with its `variant` (SageMaker's per-variant CloudWatch dimension).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from scones.endpoint.capture import CaptureWriter
from scones.model.artifact import Manifest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
# The top class probability of each answer: deployments judge a candidate's low-confidence rate from it.
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)


class Metrics:
    """Requests by status, invocation latency, batch sizes, capture counts, model identity."""

    def __init__(self, endpoint_name: str, manifest: Manifest, capture: CaptureWriter | None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scones_endpoint_requests", "HTTP requests answered, by route and status", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "scones_endpoint_invocation_seconds", "Invocation latency inside the server (read to reply)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.shadow_latency = Histogram(
            "scones_endpoint_shadow_seconds", "A shadow's inference latency on its copies (off the request path)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.confidence = Histogram(
            "scones_endpoint_top_probability", "The winning class's probability per answer",
            buckets=CONFIDENCE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.comparisons = Counter(
            "scones_endpoint_mirror_comparisons", "A candidate's answers compared with the old model's on mirrored "
            "copies, by whether the two predicted the same class", ["agreed"], registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "scones_endpoint_batch_size", "Images per model run", buckets=BATCH_BUCKETS, registry=self.registry
        )
        Info("scones_endpoint_model", "The model this endpoint serves", registry=self.registry).info(
            {
                "endpoint": endpoint_name,
                "training_job": manifest.training_job or "",
                "model_sha256": manifest.model_sha256,
                "classes": ",".join(manifest.classes),
                "pid": str(os.getpid()),  # with --workers N, which process answered the scrape
            }
        )
        if capture is not None:
            self.registry.register(_CaptureCollector(capture))


def render(by_variant: Mapping[str, Metrics]) -> bytes:
    """One Prometheus page for every variant's metrics, each sample labelled `variant`."""
    registry = CollectorRegistry()
    registry.register(_VariantsCollector(by_variant))
    return generate_latest(registry)


class _VariantsCollector(Collector):
    def __init__(self, by_variant: Mapping[str, Metrics]) -> None:
        self.by_variant = by_variant

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}  # one family per name, however many variants report it
        for variant, metrics in self.by_variant.items():
            for family in metrics.registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                merged.samples.extend(s._replace(labels={**s.labels, "variant": variant}) for s in family.samples)
        yield from families.values()


class _CaptureCollector(Collector):
    """Reads the capture writer's counters at scrape time (the writer stays metrics-free)."""

    def __init__(self, capture: CaptureWriter) -> None:
        self.capture = capture

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "scones_capture_sampling_percent", "Data capture sampling percentage", value=self.capture.config.percent
        )
        yield CounterMetricFamily(
            "scones_capture_records_accepted", "Records queued for capture", value=self.capture.accepted
        )
        yield CounterMetricFamily(
            "scones_capture_records_written", "Records written to the destination", value=self.capture.written
        )
        dropped = CounterMetricFamily(
            "scones_capture_records_dropped", "Records not captured, by reason", labels=["reason"]
        )
        for reason, count in sorted(self.capture.dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
