"""A real scones home for the console's tests, filled by a small real pipeline run.

Built once per session: a few dev images (and red/blue/grey ones the tiny model answers
predictably) in the bucket, the tiny model deployed as a real endpoint with capture at 100%,
the seed's state machine with real executions (one fails at the threshold), and the
captured data those executions produced. A real `scones console` process serves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scones.config import Settings, load_settings
from scones.storage import Store
from tests.conftest import BIKE_MOTO, free_port
from tests.helpers import png_bytes, tiny_artifact

COLOURS = {"red.png": (210, 30, 30), "blue.png": (30, 30, 210), "grey.png": (128, 128, 128)}
TOKEN = "console-test-token"


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    endpoint: str
    console_url: str
    executions: dict[str, str]  # image key -> execution ARN
    token: str


def _stage_images(store: Store, bucket: str) -> list[str]:
    keys = []
    for name, colour in COLOURS.items():
        keys.append(f"data/test/{name}")
        store.put(bucket, keys[-1], png_bytes(colour))
    if (BIKE_MOTO / "train.lst").is_file():  # a few real dev images too, when the export is here
        for line in (BIKE_MOTO / "train.lst").read_text().splitlines()[:3]:
            relative = line.split("\t")[2]
            keys.append(f"data/test/{Path(relative).name}")
            store.put(bucket, keys[-1], (BIKE_MOTO / "train" / relative).read_bytes())
    return keys


def _wait_for_capture(store: Store, bucket: str, records: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sum(store.get(bucket, o.key).count(b"\n") for o in store.list(bucket, "data_capture/"))
        if found >= records:
            return
        time.sleep(0.25)
    raise AssertionError(f"expected {records} captured records within {timeout}s")


def _start_console(home: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCONES_")}
    environ.update(SCONES_HOME=str(home), SCONES_AUTH_TOKEN=token)
    command = [sys.executable, "-m", "scones.cli", "console", "--port", str(port)]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"console exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the console did not answer /healthz within 30 s")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    from scones.endpoint import registry
    from scones.endpoint.client import invoke
    from scones.endpoint.service import EndpointConfig
    from scones.workflow import executions, machines

    home = tmp_path_factory.mktemp("console") / "home"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SCONES_"):
                mp.delenv(name)
        mp.setenv("SCONES_HOME", str(home))  # the functions find the endpoint through this home
        mp.setenv("SCONES_AUTH_TOKEN", TOKEN)  # endpoint and console share one token, as documented
        settings = load_settings()
        store = Store(settings)
        keys = _stage_images(store, settings.bucket)
        store.put(settings.bucket, "models/tiny-test-model/output/model.tar.gz", tiny_artifact().pack())
        model = f"s3://{settings.bucket}/models/tiny-test-model/output/model.tar.gz"
        config = EndpointConfig(
            name=settings.endpoint_name, port=0, capture_percent=100.0, auth_token=TOKEN,
            capture_destination=f"s3://{settings.bucket}/data_capture",
        )  # fmt: skip
        registry.deploy(settings, config, model)
        try:
            machines.create(settings, "pipeline", machines.pipeline_definition())
            arns = {}
            for key in keys:
                execution_input = {"image_data": "", "s3_bucket": settings.bucket, "s3_key": key}
                arns[key] = executions.start(settings, "pipeline", execution_input, type_="EXPRESS").arn
            invoke(settings, settings.endpoint_name, png_bytes(COLOURS["red.png"]))
            port = free_port()
            console = _start_console(home, port, TOKEN)  # starts while the endpoint rolls its capture file
            try:
                _wait_for_capture(store, settings.bucket, len(keys) + 1)
                yield Pipeline(settings, settings.endpoint_name, f"http://127.0.0.1:{port}", arns, TOKEN)
            finally:
                console.terminate()
                console.wait(timeout=10)
        finally:
            registry.delete(settings, settings.endpoint_name)
