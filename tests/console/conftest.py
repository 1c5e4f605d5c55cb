"""A real scones home for the console's tests, filled by a small real pipeline run.

Built once per session: a few dev images (and red/blue/grey ones the tiny model answers
predictably) in the bucket, the tiny model deployed as a real endpoint with capture at 100%,
the seed's state machine with real executions (one fails at the threshold), the captured
data those executions produced, a baseline and a monitoring run over it, and the tiny
model's training-job record (written through `scones.model.jobs`: real training is stage
2a's to test and takes too long here). A real `scones console` process serves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scones.config import Settings, load_settings
from scones.storage import Store
from tests.conftest import BIKE_MOTO, free_port
from tests.helpers import png_bytes, tiny_artifact, wait_healthy

COLOURS = {"red.png": (210, 30, 30), "blue.png": (30, 30, 210), "grey.png": (128, 128, 128)}
TOKEN = "console-test-token"
REAL_JOB = "real-tiny-job"
# A small net for two epochs: seconds on the staged images, and a job record written by training itself.
REAL_HYPERPARAMETERS = {"num_layers": 8, "width": 4, "epochs": 2, "mini_batch_size": 16, "seed": 3}


class Background(threading.Thread):
    """A setup step that runs beside the others; `wait()` joins it and re-raises its error."""

    def __init__(self, target: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.step = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.step()
        except BaseException as exc:  # handed to whoever waits for the step
            self.error = exc

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    endpoint: str
    console_url: str
    executions: dict[str, str]  # image key -> execution ARN
    token: str
    monitoring: Background  # the monitoring run finishes while the first tests run: wait() before reading it
    training: Background  # REAL_JOB, a real (tiny) `scones train` run on the staged images: wait() first


def _stage_images(store: Store, work: Path) -> list[str]:
    """Stage a small dataset with `scones stage` from a folder: dev images when the export is
    here, plus red/blue/grey images; returns the test keys the executions will classify."""
    from scones.data.stage import stage

    folder = work / "source"
    rows: dict[str, list[str]] = {"train": [], "test": []}
    for split in rows:
        (folder / split).mkdir(parents=True)
    for i in range(8):  # shades of red (bicycle) and blue (motorcycle) for the tiny model
        for label, colour in ((0, (150 + 10 * i, 20, 30)), (1, (20, 30, 150 + 10 * i))):
            name = f"shade_{label}_{i}.png"
            (folder / "train" / name).write_bytes(png_bytes(colour))
            rows["train"].append(f"{len(rows['train'])}\t{label}\t{name}")
    for name, colour in COLOURS.items():
        (folder / "test" / name).write_bytes(png_bytes(colour))
        rows["test"].append(f"{len(rows['test'])}\t{0 if name != 'blue.png' else 1}\t{name}")
    if (BIKE_MOTO / "train.lst").is_file():  # a few real dev images too, when the export is here
        lines = (BIKE_MOTO / "train.lst").read_text().splitlines()
        for split, chosen in (("train", lines[:12] + lines[-12:]), ("test", lines[12:14] + lines[-14:-13])):
            for line in chosen:
                _, dev_label, relative = line.split("\t")
                name = Path(relative).name
                (folder / split / name).write_bytes((BIKE_MOTO / "train" / relative).read_bytes())
                rows[split].append(f"{len(rows[split])}\t{dev_label}\t{name}")
    for split, lines in rows.items():
        (folder / f"{split}.lst").write_text("\n".join(lines) + "\n")
    stage(store, folder)
    return [f"data/test/{line.split(chr(9))[2]}" for line in rows["test"]]


def _wait_for_capture(store: Store, bucket: str, records: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sum(store.get(bucket, o.key).count(b"\n") for o in store.list(bucket, "data_capture/"))
        if found >= records:
            return
        time.sleep(0.25)
    raise AssertionError(f"expected {records} captured records within {timeout}s")


def _record_training_job(settings: Settings, model: str) -> None:
    """The tiny model's job record, as `scones train` leaves one: per-epoch metrics, kept epoch."""
    from scones.model import jobs

    epochs = [
        {"epoch": e, "train_loss": 0.7 - 0.1 * e, "train_accuracy": 0.6 + 0.1 * e, "validation_loss": 0.6 - 0.05 * e,
         "validation_accuracy": [0.55, 0.8, 0.9, 0.85][e], "seconds": 1.5, "learning_rate": 0.1}
        for e in range(4)
    ]  # fmt: skip
    jobs.create(settings, "tiny-test-model", {"epochs": 4, "num_layers": 20}, {"train": "s3://scones/data/train"}, "x")
    jobs.update_metrics(settings, "tiny-test-model", {"epochs": epochs})
    metrics = {"epochs": epochs, "best_epoch": 2, "validation_accuracy": 0.9, "train_accuracy": 0.8}
    jobs.finish(settings, "tiny-test-model", "Completed", duration_seconds=6.0, metrics=metrics, artifact_uri=model)


def _train(settings: Settings, store: Store) -> None:
    from scones.model.train import train

    train(settings, REAL_HYPERPARAMETERS, name=REAL_JOB, store=store)


def _baseline(settings: Settings, store: Store) -> None:
    from scones.monitor.service import BaselineRequest, make_baseline

    make_baseline(settings, store, BaselineRequest(endpoint=settings.endpoint_name))


def _monitor(settings: Settings, store: Store) -> None:
    """One monitoring run over what was captured (after `_baseline`)."""
    from scones.monitor.service import RunRequest, run_monitor

    run_monitor(settings, store, RunRequest(endpoint=settings.endpoint_name))


def _launch_console(home: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    """`scones console` as its own process; it boots while the rest of the home is made."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCONES_")}
    environ.update(SCONES_HOME=str(home), SCONES_AUTH_TOKEN=token)
    command = [sys.executable, "-m", "scones.cli", "console", "--port", str(port)]
    log = (home.parent / "console.log").open("wb")
    return subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:

    home = tmp_path_factory.mktemp("console") / "home"
    port = free_port()
    console = _launch_console(home, port, TOKEN)
    try:
        yield from _fill(home, port, console)
    finally:
        console.terminate()
        console.wait(timeout=10)


def _fill(home: Path, port: int, console: subprocess.Popen[bytes]) -> Iterator[Pipeline]:
    from scones.endpoint import registry
    from scones.endpoint.client import invoke
    from scones.endpoint.service import EndpointConfig
    from scones.workflow import executions, machines

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SCONES_"):
                mp.delenv(name)
        mp.setenv("SCONES_HOME", str(home))  # the functions find the endpoint through this home
        mp.setenv("SCONES_AUTH_TOKEN", TOKEN)  # endpoint and console share one token, as documented
        settings = load_settings()
        store = Store(settings)
        staged: list[str] = []
        staging = Background(lambda: staged.extend(_stage_images(store, home.parent)))  # beside the deploy
        staging.start()
        store.put(settings.bucket, "models/tiny-test-model/output/model.tar.gz", tiny_artifact().pack())
        model = f"s3://{settings.bucket}/models/tiny-test-model/output/model.tar.gz"
        config = EndpointConfig(
            name=settings.endpoint_name, port=0, capture_percent=100.0, auth_token=TOKEN,
            capture_destination=f"s3://{settings.bucket}/data_capture",
        )  # fmt: skip
        registry.deploy(settings, config, model)
        try:
            # First call now: the capture file rolls 5 s after its first record, while the rest runs.
            invoke(settings, settings.endpoint_name, png_bytes(COLOURS["red.png"]))
            _record_training_job(settings, model)
            staging.wait()
            baseline = Background(lambda: _baseline(settings, store))  # overlaps with the executions
            baseline.start()
            training = Background(lambda: _train(settings, store))
            training.start()
            machines.create(settings, "pipeline", machines.pipeline_definition())
            arns = {}
            for key in staged:
                execution_input = {"image_data": "", "s3_bucket": settings.bucket, "s3_key": key}
                arns[key] = executions.start(settings, "pipeline", execution_input, type_="EXPRESS").arn
            wait_healthy(console, f"http://127.0.0.1:{port}/healthz", 30, log=home.parent / "console.log")
            _wait_for_capture(store, settings.bucket, len(staged) + 1)
            baseline.wait()
            monitoring = Background(lambda: _monitor(settings, store))
            monitoring.start()
            yield Pipeline(
                settings, settings.endpoint_name, f"http://127.0.0.1:{port}", arns, TOKEN, monitoring, training
            )
            monitoring.join()
            training.join()
        finally:
            registry.delete(settings, settings.endpoint_name)
