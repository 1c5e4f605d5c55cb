from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.model import jobs
from scones.storage import Store
from tests.model.conftest import TINY, stage_synthetic

runner = CliRunner()
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("-p", f"{key}={value}")]


def test_bad_hyperparameter_is_one_line_exit_1() -> None:
    result = runner.invoke(app, ["train", "-p", "epochs=many"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Hyperparameter epochs='many' is invalid; expected an integer"
    unknown = runner.invoke(app, ["train", "--hyperparameter", "epoch=3"])
    assert (
        unknown.exit_code == 1 and unknown.output.count("\n") == 1 and "Unknown hyperparameter epoch" in unknown.output
    )


def test_train_with_nothing_staged_says_stage_first() -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert result.output.strip().startswith(
        "Error: No label list at s3://scones/data/train.lst; run 'scones stage' first"
    )
    assert result.output.strip().count("\n") == 0


def test_train_list_describe_evaluate_and_reuse(settings: Settings, store: Store) -> None:
    stage_synthetic(store)
    result = runner.invoke(app, ["train", "--name", "cli-job", *TINY_ARGS])
    assert result.exit_code == 0, result.output
    assert "Training job cli-job: Completed" in result.output
    assert "Model: s3://scones/models/cli-job/output/model.tar.gz" in result.output

    listed = runner.invoke(app, ["training-jobs", "--json"])
    assert [r["name"] for r in json.loads(listed.stdout)] == ["cli-job"]
    assert "cli-job" in runner.invoke(app, ["training-jobs"]).output
    described = json.loads(runner.invoke(app, ["describe-training-job", "cli-job"]).stdout)
    assert described["status"] == "Completed" and described["hyperparameters"]["num_layers"] == 8
    missing = runner.invoke(app, ["describe-training-job", "nope"])
    assert missing.exit_code == 1 and "no training job nope; run 'scones training-jobs'" in missing.output

    evaluated = runner.invoke(app, ["evaluate", "--model", "cli-job", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout)
    assert figures["images"] == 16 and 0 <= figures["accuracy"] <= 1
    assert {"precision", "recall", "f1", "macro", "confusion", "confident_share", "expected_calibration_error"} <= set(
        figures
    )
    text = runner.invoke(app, ["evaluate", "--model", "s3://scones/models/cli-job/output/model.tar.gz"])
    assert "expected calibration error" in text.output and "macro average: precision " in text.output

    again = runner.invoke(app, ["train", *TINY_ARGS])
    assert again.exit_code == 0 and "Reusing training job cli-job" in again.output
    assert len(jobs.list_jobs(settings)) == 1


@pytest.mark.slow  # a fresh process importing torch: ~10 s idle, a minute on a loaded machine
def test_sigterm_stops_the_job_and_keeps_the_best_model(settings: Settings, store: Store) -> None:
    stage_synthetic(store)
    hp = {**TINY, "epochs": 400}
    args = [arg for key, value in hp.items() for arg in ("-p", f"{key}={value}")]
    command = [sys.executable, "-m", "scones.cli", "train", "--name", "term-job", *args]
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = settings.logs_dir / "training" / "term-job.log"
    deadline = time.monotonic() + 300  # a loaded machine can take a minute just to import torch
    while time.monotonic() < deadline and "Validation-accuracy" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130, output
    record = jobs.describe(settings, "term-job")
    assert record["status"] == "Stopped" and record["artifact_uri"], output
    assert Path(store.local_path("scones", "models/term-job/output/model.tar.gz")).is_file()
