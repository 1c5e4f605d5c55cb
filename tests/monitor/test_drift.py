"""Each check in both directions: same-distribution windows pass, shifted ones are caught by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scones.monitor import baseline as baselines, drift
from scones.monitor.captured import parse_record
from scones.monitor.constraints import MonitorConfig
from scones.monitor.features import FEATURES, OnnxModel
from scones.monitor.window import Window, WindowBuilder
from tests.monitor.support import records_for, shift

CONFIG = MonitorConfig()


def window_of(images: np.ndarray, model: OnnxModel, labels: dict[str, int] | None = None) -> Window:
    builder = WindowBuilder(["bicycle", "motorcycle"], 0.93, CONFIG, labels=labels)
    for body in records_for(images, model):
        builder.add(parse_record(json.dumps(body)))
    return builder.finish()


def check(reference: baselines.Baseline, window: Window, model: OnnxModel) -> list[drift.CheckResult]:
    _, embeddings = model.predict(window.embedding_images)
    return drift.evaluate(reference, window, embeddings)


def violated(results: list[drift.CheckResult]) -> set[tuple[str, str]]:
    return {(r.check_type, r.feature_name) for r in results if r.violated}


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_windows_raise_nothing(
    seed: int, images: tuple[np.ndarray, np.ndarray], model: OnnxModel
) -> None:
    pixels, labels = images
    order = np.random.default_rng(seed).permutation(len(pixels))
    meta = {"name": "t", "threshold": 0.93, "model": None}
    reference = baselines.compute(
        model, pixels[order[:400]], pixels[order[400:600]], labels[order[400:600]], meta, CONFIG
    )
    results = check(reference, window_of(pixels[order[600:]], model), model)
    assert violated(results) == set()
    assert all(r.evaluated for r in results if r.check_type != "model_quality_check")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("darker", {("baseline_drift_check", "image.brightness"), ("embedding_drift_check", "embedding")}),
        ("blurred", {("baseline_drift_check", "image.sharpness"), ("baseline_drift_check", "image.high_frequency")}),
        ("noisy", {("baseline_drift_check", "image.high_frequency")}),
        ("grayscale", {("baseline_drift_check", "image.saturation"), ("confidence_drift_check", "max_probability")}),
        ("rotated", {("baseline_drift_check", "image.top_bottom")}),
        ("other_objects", {("embedding_drift_check", "embedding"), ("baseline_drift_check", "image.saturation")}),
    ],
)
def test_shifted_windows_are_caught_by_the_right_check(
    kind: str,
    expected: set[tuple[str, str]],
    images: tuple[np.ndarray, np.ndarray],
    split: dict[str, np.ndarray],
    reference: baselines.Baseline,
    model: OnnxModel,
) -> None:
    results = check(reference, window_of(shift(images[0][split["window"]], kind), model), model)
    assert expected <= violated(results)
    assert any(r.description.endswith("drift") for r in results if r.violated)


def test_prediction_drift_both_directions(
    images: tuple[np.ndarray, np.ndarray], split: dict[str, np.ndarray], reference: baselines.Baseline, model: OnnxModel
) -> None:
    pixels = images[0][split["window"]]
    predicted = model.predict(pixels)[0].argmax(axis=1)
    lopsided = window_of(pixels[predicted == 1], model)
    result = drift.prediction_drift(reference.class_counts, lopsided.class_counts, reference.classes, CONFIG)
    assert result.violated and result.check_type == "prediction_drift_check"
    balanced = window_of(pixels, model)
    assert not drift.prediction_drift(reference.class_counts, balanced.class_counts, reference.classes, CONFIG).violated


def test_low_confidence_both_directions() -> None:
    base = np.r_[np.full(180, 0.99), np.full(20, 0.6)]  # 10% below 0.93
    assert not drift.low_confidence(base, 11, 100, 0.93, CONFIG).violated
    result = drift.low_confidence(base, 40, 100, 0.93, CONFIG)
    assert result.violated and "40.0% of answers below 0.93" in result.description


def test_confidence_drift_both_directions() -> None:
    rng = np.random.default_rng(0)
    base = rng.beta(8, 1, 2000)
    alpha = CONFIG.alpha / drift.P_VALUE_CHECKS
    same = drift.ks_check("confidence_drift_check", "max_probability", base, rng.beta(8, 1, 500), alpha, 0.1, 30)
    moved = drift.ks_check("confidence_drift_check", "max_probability", base, rng.beta(3, 1, 500), alpha, 0.1, 30)
    assert not same.violated and moved.violated


def test_large_samples_do_not_cry_wolf() -> None:
    """A negligible shift is significant on 100k records but below the effect threshold."""
    rng = np.random.default_rng(1)
    base, window = rng.normal(0, 1, 20_000), rng.normal(0.03, 1, 100_000)
    result = drift.ks_check("baseline_drift_check", "image.brightness", base, window, 1e-4, 0.1, 30)
    assert result.p_value is not None and result.p_value < 1e-4
    assert not result.violated


def test_mmd_both_directions() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 1, (400, 16))
    same = drift.mmd_test(reference, rng.normal(0, 1, (300, 16)), 300, 500, np.random.default_rng(0))
    moved = drift.mmd_test(reference, rng.normal(0.5, 1, (300, 16)), 300, 500, np.random.default_rng(0))
    assert same[1] > 0.05 and abs(same[0]) < CONFIG.embedding_min_mmd2
    assert moved[1] < 0.01 and moved[0] > CONFIG.embedding_min_mmd2


def test_accuracy_both_directions() -> None:
    assert not drift.accuracy(180, 200, 88, 100, CONFIG).violated
    result = drift.accuracy(180, 200, 60, 100, CONFIG)
    assert result.violated and result.check_type == "model_quality_check"
    assert not drift.accuracy(180, 200, 5, 10, CONFIG).evaluated  # too few labels to say


def test_data_quality_both_directions() -> None:
    counts = dict.fromkeys(
        ["undecodable", "unexpected_content_type", "blank_images", "error_responses", "wrong_class_count"], 0
    )
    counts.update(inputs=1000, decoded=1000, records=1000)
    read = {"lines": 1000, "corrupt_lines": 2, "files": 10, "corrupt_files": 0}
    assert not any(r.violated for r in drift.data_quality(counts, read, CONFIG))
    counts.update(undecodable=40, error_responses=30)
    flagged = {r.feature_name for r in drift.data_quality(counts, read, CONFIG) if r.violated}
    assert flagged == {"undecodable_inputs", "error_responses"}


def test_violations_document_shape(
    images: tuple[np.ndarray, np.ndarray], split: dict[str, np.ndarray], reference: baselines.Baseline, model: OnnxModel
) -> None:
    results = check(reference, window_of(shift(images[0][split["window"]], "darker"), model), model)
    document = json.loads(json.dumps(drift.violations_document(results)))
    assert set(document) == {"violations"} and document["violations"]
    for entry in document["violations"]:
        assert set(entry) == {"feature_name", "constraint_check_type", "description"}
        assert all(isinstance(v, str) and v for v in entry.values())


@pytest.mark.slow
def test_false_alarm_rate_over_many_splits(images: tuple[np.ndarray, np.ndarray], model: OnnxModel) -> None:
    """40 random same-distribution splits: the run-level bound is alpha = 0.3%, so expect none."""
    pixels, labels = images
    alarms = []
    for seed in range(100, 140):
        order = np.random.default_rng(seed).permutation(len(pixels))
        meta = {"name": "t", "threshold": 0.93, "model": None}
        held_out = order[400:600]
        reference = baselines.compute(model, pixels[order[:400]], pixels[held_out], labels[held_out], meta, CONFIG)
        fired = violated(check(reference, window_of(pixels[order[600:]], model), model))
        if fired:
            alarms.append((seed, fired))
    assert len(alarms) <= 1, alarms  # P(2 or more of 40 at 0.3%) < 1%; in practice the effect gate makes it 0


def test_prediction_drift_over_k_classes() -> None:
    """Five classes, one of them never predicted by the baseline: a shift of mass between two is caught."""
    classes = ["cat", "dog", "elk", "fox", "gnu"]
    base = np.array([400, 300, 200, 100, 0])
    same = drift.prediction_drift(base, np.array([210, 140, 95, 55, 0]), classes, CONFIG)
    moved = drift.prediction_drift(base, np.array([100, 150, 100, 150, 0]), classes, CONFIG)
    assert same.evaluated and not same.violated
    assert moved.violated and "gnu 0%" in moved.description and "fox 30%" in moved.description


def test_the_run_alpha_is_shared_over_the_checks_the_run_makes(
    images: tuple[np.ndarray, np.ndarray], split: dict[str, np.ndarray], reference: baselines.Baseline, model: OnnxModel
) -> None:
    """Without labels the accuracy check does not run, so its share goes to the five that do: each
    is held to alpha / 5 (the image features split theirs again); with labels, to alpha / 6."""
    pixels, labels = images
    window = window_of(pixels[split["window"]], model, {})
    _, embeddings = model.predict(window.embedding_images)
    for labelled, shares in ((False, 5), (True, 6)):
        results = drift.evaluate(reference, window, embeddings, labelled=labelled)
        held = {r.check_type: r.alpha for r in results if r.evaluated and r.alpha is not None}
        per_check = CONFIG.alpha / shares
        assert held["embedding_drift_check"] == held["confidence_drift_check"] == pytest.approx(per_check)
        assert held["baseline_drift_check"] == pytest.approx(per_check / len(FEATURES))
