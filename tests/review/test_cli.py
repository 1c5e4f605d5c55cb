"""`scones review ...`: list, label, skip, undo, describe, import, refresh; and the ground truth they
write read back by `scones monitor run --labels`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint.capture import CaptureConfig, CaptureWriter
from scones.review import queue
from scones.storage import Store
from tests.helpers import register_endpoint
from tests.monitor.support import dev_images, png, tiny_model
from tests.review.support import CLASSES, capture, register

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bike-moto"


def _run(*argv: str) -> str:
    result = CliRunner().invoke(app, list(argv), env={"COLUMNS": "250"})  # a wide terminal: no wrapped cells
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def ids(settings: Settings, store: Store) -> list[str]:
    register(settings)
    capture(store, [0.5, 0.6, 0.99], inference_ids=["a", None, None])
    return [i.id for i in queue.items(settings, "ep")] if queue.refresh(settings, "ep") else []


def test_list_refreshes_and_shows_the_queue(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.5, 0.6, 0.99], inference_ids=["a", None, None])
    listed = json.loads(_run("review", "list", "ep", "--json"))
    assert [i["id"] for i in listed][0] == "a" and len(listed) == 2  # refreshed: the low-confidence two
    assert listed[0]["predicted_class"] == "bicycle" and listed[0]["status"] == "pending"
    assert listed[0]["confidence"] == pytest.approx(0.5) and listed[0]["variant"] == "AllTraffic"
    assert listed[1]["event_id"] == listed[1]["id"] and listed[1]["inference_id"] is None
    text = _run("review", "list", "ep")
    assert "low-confidence" in text and "2 pending, 0 labelled, 0 skipped" in text
    first = _run("review", "list", "ep", "--limit", "1", "--no-refresh")
    assert "showing the first 1" in first and listed[1]["id"] not in first


def test_label_skip_undo_and_the_history_shown(settings: Settings, ids: list[str]) -> None:
    assert "a: motorcycle" in _run("review", "label", "ep", "a", "motorcycle", "--reviewer", "ann")
    _run("review", "label", "ep", "a", "0", "--reviewer", "bob")
    _run("review", "skip", "ep", ids[1], "--reviewer", "ann")
    labelled = json.loads(_run("review", "list", "ep", "--status", "labelled", "--json"))
    assert [(i["id"], i["label_class"], i["reviewer"]) for i in labelled] == [("a", "bicycle", "bob")]
    assert [(h["reviewer"], h["label"]) for h in labelled[0]["history"]] == [("ann", 1), ("bob", 0)]
    assert "ann:motorcycle > bob:bicycle" in _run("review", "list", "ep", "--status", "all")
    described = json.loads(_run("review", "describe", "ep", ids[1]))
    assert described["status"] == "skipped" and described["history"][0]["action"] == "skip"
    assert "now labelled" in _run("review", "undo", "ep", "a")
    assert [(r.label, r.reviewer) for r in queue.reviewed(settings, "ep")] == [(1, "ann")]


def test_import_csv_and_ground_truth_jsonl(settings: Settings, store: Store, ids: list[str], tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(f"id,label\na,motorcycle\n{ids[1]},0\n")
    assert "2 label(s) imported" in _run("review", "import", "ep", str(tmp_path / "labels.csv"))
    assert {(r.id, r.label) for r in queue.reviewed(settings, "ep")} == {("a", 1), (ids[1], 0)}
    truth = {
        "groundTruthData": {"data": "0", "encoding": "CSV"},
        "eventMetadata": {"eventId": "a"},
        "eventVersion": "0",
    }
    (tmp_path / "gt.jsonl").write_text(json.dumps(truth) + "\n")
    _run("review", "import", "ep", str(tmp_path / "gt.jsonl"), "--reviewer", "carol")
    assert {(r.id, r.label, r.reviewer) for r in queue.reviewed(settings, "ep")} >= {("a", 0, "carol")}


def test_refresh_takes_the_confident_share(settings: Settings, store: Store) -> None:
    register(settings)
    capture(store, [0.99] * 100)
    body = json.loads(_run("review", "refresh", "ep", "--sample-confident", "1", "--json"))
    assert body["added"] == 100 and body["records"] == 100


def test_the_confident_share_from_the_environment(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(settings)
    capture(store, [0.99] * 50)
    monkeypatch.setenv("SCONES_SAMPLE_CONFIDENT", "1")
    assert json.loads(_run("review", "refresh", "ep", "--json"))["added"] == 50


def test_monitor_run_reads_the_labels_given_in_review(settings: Settings, store: Store, model_file: Path) -> None:
    if not (DATA / "train.lst").is_file():
        pytest.skip(f"bike-moto image export not present at {DATA}")
    config = {"capture_destination": None, "variant": "AllTraffic", "classes": CLASSES}
    register_endpoint(settings, "ep", "http://127.0.0.1:1", model=str(model_file), config=config)
    pixels, truth = dev_images(DATA)
    chosen = np.random.default_rng(3).permutation(len(pixels))[:120]
    model = tiny_model()
    probabilities, _ = model.predict(pixels[chosen])
    writer = CaptureWriter(store, CaptureConfig(percent=100), "ep")
    for i, p in zip(chosen, probabilities, strict=True):
        writer.offer(png(pixels[i]), "image/png", json.dumps(p.tolist()), "application/json", f"img-{i}")
    writer.close()
    _run("review", "refresh", "ep", "--sample-confident", "1")  # every answer, so the quality check has enough
    assert len(queue.items(settings, "ep")) == len(chosen)
    rows = "".join(f"img-{i},{CLASSES[truth[i]]}\n" for i in chosen)
    Path(settings.home / "truth.csv").write_text(rows)
    _run("review", "import", "ep", str(settings.home / "truth.csv"))
    _run("monitor", "baseline", "--endpoint", "ep", "--data", str(DATA))
    result = CliRunner().invoke(
        app, ["monitor", "run", "--endpoint", "ep", "--labels", f"s3://{settings.bucket}/ground-truth/ep/", "--json"]
    )
    assert result.exit_code in (0, 3), result.output
    body = json.loads(result.stdout)
    assert body["labels"]["ids"] == len(chosen) and body["labels"]["bad_lines"] == 0
    checks = json.loads(Store(settings).get(settings.bucket, body["output"].split("/", 3)[3] + "/checks.json"))
    quality = [c for c in checks["checks"] if c["check_type"] == "model_quality_check"]
    assert quality and quality[0]["evaluated"]
    accuracy = float(np.mean(probabilities.argmax(axis=1) == truth[chosen]))  # what the labels say it is
    assert f"accuracy {accuracy:.1%} on {len(chosen)} labelled records" in quality[0]["description"]
