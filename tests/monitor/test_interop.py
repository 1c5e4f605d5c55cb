"""The monitor reads what scones' own endpoint capture writer wrote, found through the endpoints table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint.capture import CaptureConfig, CaptureWriter
from scones.monitor.features import OnnxModel
from scones.storage import Store
from tests.helpers import register_endpoint
from tests.monitor.support import png, shift


def _register(settings: Settings, name: str, model: Path, destination: str | None) -> None:
    config = {"capture_destination": destination, "variant": "AllTraffic", "classes": ["bicycle", "motorcycle"]}
    register_endpoint(settings, name, "http://127.0.0.1:1", model=str(model), config=config)


def _capture(store: Store, name: str, destination: str | None, images: np.ndarray, model: OnnxModel) -> None:
    writer = CaptureWriter(store, CaptureConfig(percent=100, destination=destination), name)
    probabilities, _ = model.predict(images)
    for i, (image, p) in enumerate(zip(images, probabilities, strict=True)):
        writer.offer(png(image), "image/png", json.dumps(p.tolist()), "application/json", f"req-{i}" if i % 2 else None)
    writer.close()
    assert writer.written == len(images)


def test_monitor_reads_the_endpoints_own_capture(
    settings: Settings,
    store: Store,
    model_file: Path,
    images: tuple[np.ndarray, np.ndarray],
    split: dict[str, np.ndarray],
    model: OnnxModel,
) -> None:
    destination = f"s3://{settings.bucket}/elsewhere/capture"
    _register(settings, "ep", model_file, destination)
    _register(settings, "ep-dark", model_file, None)  # the default destination
    pixels = images[0][split["window"]][:100]
    _capture(store, "ep", destination, pixels, model)
    _capture(store, "ep-dark", None, shift(pixels, "darker"), model)
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bike-moto"
    cli = CliRunner()
    made = cli.invoke(app, ["monitor", "baseline", "--endpoint", "ep", "--data", str(data)])
    assert made.exit_code == 0, made.output
    same = cli.invoke(app, ["monitor", "run", "--endpoint", "ep", "--json"])
    assert same.exit_code == 0, same.output
    body = json.loads(same.stdout)
    assert body["records"] == 100 and body["capture"] == f"{destination}/ep/AllTraffic"
    assert body["read"]["corrupt_lines"] == 0 and body["violations"] == []
    baseline = f"s3://{settings.bucket}/monitoring/ep/baseline"
    dark = cli.invoke(app, ["monitor", "run", "--endpoint", "ep-dark", "--baseline", baseline, "--json"])
    assert dark.exit_code == 3
    found = {v["feature_name"] for v in json.loads(dark.stdout)["violations"]}
    assert "image.brightness" in found
    assert json.loads(dark.stdout)["capture"] == f"s3://{settings.bucket}/data_capture/ep-dark/AllTraffic"
