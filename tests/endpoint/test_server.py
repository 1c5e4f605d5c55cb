"""`scones serve` as the container command: port resolution, model location, SIGTERM flush."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from scones.config import Settings
from scones.endpoint.server import CONTAINER_MODEL_DIR, endpoint_config, model_location
from scones.errors import ConfigError, EndpointError
from scones.storage import Store
from tests.conftest import free_port
from tests.helpers import SCONES, png_bytes, served, tiny_artifact


def test_port_precedence(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoint_config(settings).port == 8080
    monkeypatch.setenv("SCONES_ENDPOINT_PORT", "9001")
    assert endpoint_config(settings).port == 9001
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9002")
    assert endpoint_config(settings).port == 9002
    assert endpoint_config(settings, port=9003).port == 9003
    assert endpoint_config(settings).host == "127.0.0.1"
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "eighty")
    with pytest.raises(ConfigError, match="'port'"):
        endpoint_config(settings)


def test_config_validation_and_token_from_settings(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="not valid"):
        endpoint_config(settings, name="no_underscores")
    with pytest.raises(ConfigError, match="0 to 100"):
        endpoint_config(settings, capture_percent=101)
    token_settings = Settings(home=settings.home, auth_token="abc")
    assert endpoint_config(token_settings).auth_token == "abc"


def test_model_location() -> None:
    assert model_location("s3://scones/models/x/output/model.tar.gz").startswith("s3://")
    if (CONTAINER_MODEL_DIR / "manifest.json").is_file():  # inside a SageMaker-style container
        assert model_location(None) == str(CONTAINER_MODEL_DIR)
    else:
        with pytest.raises(EndpointError, match="No model to serve"):
            model_location(None)


def test_serve_honours_sagemaker_port_and_flushes_capture_on_sigterm(
    tmp_path: Path, settings: Settings, store: Store
) -> None:
    model = tmp_path / "model"
    tiny_artifact().write_dir(model)  # unpacked, as SageMaker puts it in /opt/ml/model
    port = free_port()
    env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port)}
    command = [*SCONES, "serve", "--model", str(model), "--capture-percent", "100", "--workers", "2"]
    with served(command, f"http://127.0.0.1:{port}", env=env) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(25):
            reply = client.post("/invocations", content=png_bytes(), headers={"content-type": "image/png"})
            assert reply.status_code == 200
    assert server.process.returncode == 0, server.stderr
    keys = [o.key for o in store.list("scones", "data_capture")]
    assert sum(len(store.get("scones", k).splitlines()) for k in keys) == 25  # two workers, nothing lost


def test_serve_without_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SCONES, "serve", "--model", str(tmp_path / "x")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Error: No model at" in result.stderr and "Traceback" not in result.stderr
