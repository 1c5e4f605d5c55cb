"""The shadow report: the shadow variant against production, prediction by prediction.

AWS's shadow tests compare latency and errors only. This pairs each captured shadow record with
the production record of the same request (they share the `inferenceId`, see `shadow.py`) and
compares what the two models said: agreement rate, the flip matrix per class, the shift in
confidence, each model's low-confidence rate, and the requests where they disagree. Latency
p50/p99 per side come from the endpoint's live /metrics histograms (the process that answered
the scrape, with --workers N).

Reads only the capture files and the endpoint's row; needs capture on (100% pairs every copy).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from scones.config import DEFAULT_THRESHOLD, Settings
from scones.endpoint import table, variants
from scones.endpoint.guardrails import quantile
from scones.errors import EndpointError
from scones.keys import join_key, parse_s3_uri
from scones.storage import Store

MAX_DISAGREEMENTS = 50  # listed in the report; the counts cover all of them


@dataclass(frozen=True)
class Side:
    """One model's figures over the paired requests."""

    variant: str
    mean_confidence: float
    low_confidence_rate: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


@dataclass
class ShadowReport:
    endpoint: str
    shadow: str
    production: list[str]
    pairs: int
    agreement_rate: float | None
    confidence_shift: float | None  # shadow's mean top probability minus production's
    threshold: float
    flips: dict[str, dict[str, int]] = field(default_factory=dict)  # production class -> shadow class -> count
    sides: list[Side] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    unpaired_shadow: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shadow_report(settings: Settings, name: str, threshold: float = DEFAULT_THRESHOLD) -> ShadowReport:
    """Compare endpoint `name`'s shadow with production over everything captured so far."""
    record = table.find(settings, name)
    if record is None:
        raise EndpointError(f"No endpoint named {name!r}; run 'scones endpoints' to list them")
    listed = variants.from_config(record.config, record.model)
    shadow = next((v.name for v in listed if v.shadow), None)
    if shadow is None:
        raise EndpointError(f"Endpoint {name} has no shadow variant; deploy one with --shadow NAME=MODEL[:PERCENT]")
    production = [v.name for v in listed if not v.shadow]
    classes = list(record.config.get("classes") or [])
    store = Store(settings)
    destination = record.config.get("capture_destination") or f"s3://{settings.bucket}/data_capture"
    theirs = _records(store, destination, name, [shadow])
    ours = _records(store, destination, name, production)
    pairs = [(ours[i], theirs[i]) for i in theirs if i in ours]
    report = ShadowReport(
        endpoint=name, shadow=shadow, production=production, pairs=len(pairs),
        agreement_rate=None, confidence_shift=None, threshold=threshold, unpaired_shadow=len(theirs) - len(pairs),
    )  # fmt: skip
    latency = _latency(record.url, settings.auth_token, production, shadow)
    if not pairs:
        return report

    def label(index: int) -> str:
        return classes[index] if index < len(classes) else str(index)

    flips: dict[str, Counter[str]] = {}
    agree = 0
    for (variant, key, ours_p), (_, shadow_key, theirs_p) in pairs:
        a, b = _argmax(ours_p), _argmax(theirs_p)
        flips.setdefault(label(a), Counter())[label(b)] += 1
        if a == b:
            agree += 1
        elif len(report.disagreements) < MAX_DISAGREEMENTS:
            report.disagreements.append(
                {"production_variant": variant, "production": label(a), "shadow": label(b),
                 "production_confidence": max(ours_p), "shadow_confidence": max(theirs_p),
                 "production_key": key, "shadow_key": shadow_key}
            )  # fmt: skip
    report.agreement_rate = agree / len(pairs)
    report.flips = {k: dict(v) for k, v in sorted(flips.items())}
    mine = [max(p) for _, _, p in (pair[0] for pair in pairs)]
    other = [max(p) for _, _, p in (pair[1] for pair in pairs)]
    report.confidence_shift = sum(other) / len(other) - sum(mine) / len(mine)
    production_latency = _merge([latency.get(v, {}) for v in production])
    report.sides = [
        _side("+".join(production), mine, threshold, production_latency),
        _side(shadow, other, threshold, latency.get(shadow, {})),
    ]
    return report


Captured = tuple[str, str, list[float]]  # (variant, capture key, probabilities)


def _records(store: Store, destination: str, endpoint: str, names: list[str]) -> dict[str, Captured]:
    """inferenceId -> the captured answer, for the records of `names` that carry one."""
    bucket, prefix = parse_s3_uri(destination)
    found: dict[str, Captured] = {}
    for variant in names:
        for info in store.list(bucket, join_key(prefix, endpoint, variant) + "/"):
            for line in store.get(bucket, info.key).splitlines():
                record = json.loads(line)
                inference_id = record.get("eventMetadata", {}).get("inferenceId")
                if inference_id:
                    found[inference_id] = (variant, info.key, _probabilities(record["captureData"]["endpointOutput"]))
    return found


def _probabilities(output: dict[str, Any]) -> list[float]:
    data = output["data"]
    text = base64.b64decode(data).decode() if output.get("encoding") == "BASE64" else data
    value = json.loads(text)
    return [float(p) for p in (value["prediction"] if isinstance(value, dict) else value)]


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _side(variant: str, confidences: list[float], threshold: float, buckets: dict[float, float]) -> Side:
    low = sum(1 for c in confidences if c < threshold) / len(confidences)
    p50, p99 = quantile(0.5, buckets), quantile(0.99, buckets)
    return Side(
        variant, sum(confidences) / len(confidences), low,
        None if p50 is None else 1000 * p50, None if p99 is None else 1000 * p99,
    )  # fmt: skip


def _latency(url: str, token: str | None, production: list[str], shadow: str) -> dict[str, dict[float, float]]:
    """variant -> cumulative latency histogram buckets from the live endpoint ({} when it does not answer).

    Production's is its invocation latency; the shadow's is the latency of its copies (it has no callers)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        text = httpx.get(f"{url}/metrics", headers=headers, timeout=15).text
    except httpx.HTTPError:
        return {}
    wanted = {**{name: "scones_endpoint_invocation_seconds_bucket" for name in production},
              shadow: "scones_endpoint_shadow_seconds_bucket"}  # fmt: skip
    found: dict[str, dict[float, float]] = {name: {} for name in wanted}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            variant = s.labels.get("variant", "")
            if wanted.get(variant) == s.name:
                found[variant][float(s.labels["le"])] = s.value
    return found


def _merge(histograms: list[dict[float, float]]) -> dict[float, float]:
    merged: dict[float, float] = {}
    for histogram in histograms:
        for bound, count in histogram.items():
            merged[bound] = merged.get(bound, 0.0) + count
    return merged
