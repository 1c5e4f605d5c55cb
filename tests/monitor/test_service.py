"""Baselines, runs, reports, run records and the CLI, end to end on real files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.errors import MonitorError
from scones.monitor import baseline as baselines, runs
from scones.monitor.constraints import MonitorConfig
from scones.monitor.reading import WindowSpec, read_window
from scones.monitor.report import FIGURES
from scones.monitor.service import RunRequest, run_monitor
from scones.storage import Store
from tests.monitor.support import T0, records_for, shift, write_capture

BASELINE = "s3://scones/monitoring/test/baseline"


@pytest.fixture
def saved(store: Store, reference: baselines.Baseline, model_file: Path) -> str:
    reference.meta["model"] = str(model_file)
    baselines.save(store, reference, BASELINE)
    return BASELINE


def _capture(tmp_path: Path, pixels: np.ndarray, model: object, name: str) -> Path:
    root = tmp_path / name
    write_capture(root, records_for(pixels, model, step=timedelta(seconds=20)), endpoint="ep")  # type: ignore[arg-type]
    return root


def test_baseline_round_trip(store: Store, saved: str, reference: baselines.Baseline) -> None:
    loaded = baselines.load(store, saved)
    np.testing.assert_allclose(loaded.features, reference.features)
    assert loaded.classes == ["bicycle", "motorcycle"] and loaded.config == MonitorConfig()
    constraints = json.loads(store.get("scones", "monitoring/test/baseline/constraints.json"))
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
    assert "embedding_drift_check" in constraints["scones"]["check_types"]
    stats = json.loads(store.get("scones", "monitoring/test/baseline/statistics.json"))
    names = {f["name"] for f in stats["features"]}
    assert {"image.brightness", "max_probability", "predicted_label"} <= names


def test_edited_constraints_change_the_thresholds(store: Store, saved: str) -> None:
    key = "monitoring/test/baseline/constraints.json"
    document = json.loads(store.get("scones", key))
    document["scones"]["config"]["alpha"] = 0.05
    store.put("scones", key, json.dumps(document).encode())
    assert baselines.load(store, saved).config.alpha == 0.05
    document["scones"]["config"]["nonsense"] = 1
    store.put("scones", key, json.dumps(document).encode())
    with pytest.raises(MonitorError, match="unknown thresholds nonsense"):
        baselines.load(store, saved)


def test_run_writes_results_and_records_it(
    settings: Settings,
    store: Store,
    saved: str,
    tmp_path: Path,
    images: tuple[np.ndarray, np.ndarray],
    split: dict[str, np.ndarray],
    model: object,
) -> None:
    pixels = images[0][split["window"]]
    same = run_monitor(
        settings, store, RunRequest(capture=str(_capture(tmp_path, pixels, model, "same")), baseline=saved)
    )
    dark = run_monitor(
        settings,
        store,
        RunRequest(capture=str(_capture(tmp_path, shift(pixels, "darker"), model, "dark")), baseline=saved),
    )
    assert same.status == "Completed" and same.violations == []
    assert dark.status == "CompletedWithViolations" and dark.violations
    folder = store.local_path("scones", dark.output.split("scones/", 1)[1])
    for name in (*FIGURES, "report.html", "statistics.json", "constraint_violations.json"):
        assert (folder / name).is_file(), name
    for name in FIGURES:
        with Image.open(folder / name) as picture:
            assert picture.format == "PNG" and picture.size[0] > 200
    page = (folder / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "baseline_drift_check" in page and "data:image/png;base64," in page
    assert json.loads((folder / "constraint_violations.json").read_text())["violations"] == dark.violations
    stats = json.loads((folder / "statistics.json").read_text())
    assert stats["dataset"]["item_count"] == len(pixels)
    listed = {e.run_id: e for e in runs.executions(settings)}
    assert listed[same.run_id].status == "Completed" and listed[dark.run_id].violations == len(dark.violations)


def test_window_and_labels(
    settings: Settings,
    store: Store,
    saved: str,
    tmp_path: Path,
    images: tuple[np.ndarray, np.ndarray],
    split: dict[str, np.ndarray],
    model: object,
) -> None:
    pixels, truth = images[0][split["window"]], images[1][split["window"]]
    capture = _capture(tmp_path, pixels, model, "labelled")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "inferenceId,label\n" + "".join(f"req-{i},{1 - t}\n" for i, t in enumerate(truth))
    )  # all wrong-ish
    result = run_monitor(settings, store, RunRequest(capture=str(capture), baseline=saved, labels=str(labels)))
    quality = [r for r in result.results if r.check_type == "model_quality_check"]
    assert quality and quality[0].evaluated and result.window.counts["labelled"] == len(pixels)
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    spec = WindowSpec(["bicycle", "motorcycle"], 0.93, MonitorConfig())
    assert read_window(store, str(capture), spec, since, until).counts["records"] == 60  # one record every 20 s


def test_missing_baseline_and_capture_fail_and_are_recorded(
    settings: Settings, store: Store, tmp_path: Path, saved: str
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MonitorError, match="scones monitor baseline"):
        run_monitor(settings, store, RunRequest(capture=str(tmp_path / "empty"), baseline="s3://scones/nothing"))
    with pytest.raises(MonitorError, match="No captured data"):
        run_monitor(settings, store, RunRequest(capture=str(tmp_path / "empty"), baseline=saved))
    assert [e.status for e in runs.executions(settings)] == ["Failed", "Failed"]


def test_schedule_runs_consecutive_windows() -> None:
    clock = [1000.4]
    windows: list[tuple[float, float]] = []

    def once(since: float, until: float) -> None:
        windows.append((since, until))
        if len(windows) == 2:
            raise MonitorError("a failing run does not stop the schedule")

    made = runs.schedule(
        60, once, max_runs=3, lag=10, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    # windows end on whole seconds, 10 s (the lag) before they are analysed, and follow each other
    assert made == 3 and windows == [(930.0, 990.0), (990.0, 1050.0), (1050.0, 1110.0)]
    assert clock[0] == pytest.approx(1120.0)
    assert runs.parse_interval("1h") == 3600 and runs.parse_interval("15m") == 900
    with pytest.raises(MonitorError, match="duration"):
        runs.parse_interval("soon")


def test_cli_exit_codes(
    saved: str, tmp_path: Path, images: tuple[np.ndarray, np.ndarray], split: dict[str, np.ndarray], model: object
) -> None:
    pixels = images[0][split["window"]][:200]
    cli = CliRunner()
    # exit 0 on a clean window: tests/monitor/test_interop.py
    gray = _capture(tmp_path, shift(pixels, "grayscale"), model, "g")
    flagged = cli.invoke(app, ["monitor", "run", "--capture", str(gray), "--baseline", saved, "--json"])
    assert flagged.exit_code == 3
    assert "image.saturation" in {v["feature_name"] for v in json.loads(flagged.stdout)["violations"]}
    missing = cli.invoke(app, ["monitor", "run", "--capture", str(tmp_path / "nowhere"), "--baseline", saved])
    assert missing.exit_code == 1 and "Error: No captured data" in missing.output and "Traceback" not in missing.output
    assert cli.invoke(app, ["monitor", "run", "--since", "yesterday-ish", "--baseline", saved]).exit_code == 1
    assert cli.invoke(app, ["monitor", "run", "--bogus"]).exit_code == 2
    listed = cli.invoke(app, ["monitor", "executions", "--json"])
    assert listed.exit_code == 0
    assert {e["status"] for e in json.loads(listed.stdout)} == {"CompletedWithViolations", "Failed"}
    plotted = cli.invoke(
        app, ["monitor", "plot", "--capture", str(gray), "--baseline", saved, "--out", str(tmp_path / "p")]
    )
    assert plotted.exit_code == 0 and sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted(FIGURES)


def test_cli_baseline_from_a_dataset_folder(model_file: Path, images: tuple[np.ndarray, np.ndarray]) -> None:
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bike-moto"
    command = ["monitor", "baseline", "--model", str(model_file), "--data", str(data), "--json"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["baseline"] == "s3://scones/monitoring/tiny-test-model/baseline" and body["training_images"] == 1000


def test_everything_on_s3(
    s3_settings: Settings,
    s3_store: Store,
    tmp_path: Path,
    reference: baselines.Baseline,
    images: tuple[np.ndarray, np.ndarray],
    split: dict[str, np.ndarray],
    model: object,
    model_file: Path,
) -> None:
    bucket = s3_settings.bucket
    reference.meta["model"] = str(model_file)
    uri = baselines.save(s3_store, reference, f"s3://{bucket}/monitoring/s3/baseline")
    local = _capture(tmp_path, shift(images[0][split["window"]][:120], "grayscale"), model, "cap")
    for path in local.rglob("*.jsonl"):
        s3_store.put(bucket, "captured/" + path.relative_to(local).as_posix(), path.read_bytes())
    result = run_monitor(s3_settings, s3_store, RunRequest(capture=f"s3://{bucket}/captured", baseline=uri))
    assert result.status == "CompletedWithViolations" and result.window.counts["records"] == 120
    assert result.output.startswith(f"s3://{bucket}/monitoring/")
    key = result.report.split(f"s3://{bucket}/", 1)[1]
    assert s3_store.get(bucket, key).startswith(b"<!doctype html>")
    violations = json.loads(s3_store.get(bucket, key.replace("report.html", "constraint_violations.json")))
    assert "image.saturation" in {v["feature_name"] for v in violations["violations"]}


def test_the_window_reads_inputs_at_the_models_size_and_fit_rule(reference: baselines.Baseline) -> None:
    """A photo model (48x40, crop-to-cover, bicubic) sees captured photos as its endpoint does, not stretched."""
    from dataclasses import replace

    from scones.model.artifact import Preprocessing
    from scones.monitor.features import OnnxModel
    from scones.monitor.service import window_spec
    from tests.helpers import tiny_artifact

    art = tiny_artifact()
    pre = Preprocessing(image_shape=(3, 48, 40), resize="bicubic", fit="crop")
    photo_model = OnnxModel(replace(art, manifest=replace(art.manifest, preprocessing=pre)))
    spec = window_spec(reference, None, photo_model)
    assert (spec.image_size, spec.fit) == ((48, 40), ("bicubic", "crop"))
    builder = spec.builder()
    assert (builder.image_size, builder.resize, builder.fit) == ((48, 40), "bicubic", "crop")
    assert window_spec(reference, None, None).fit == ("bilinear", "stretch")
