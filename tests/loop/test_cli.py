"""The loop's commands end to end: labelled captures -> `scones dataset add-reviewed` -> `scones retrain --json`
-> `scones loop iterations`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.review import queue
from scones.storage import Store
from tests.review.support import capture


def test_reviewed_captures_become_a_version_and_a_judged_candidate(
    settings: Settings, staged: Store, endpoint: str
) -> None:
    capture(staged, [0.55, 0.6, 0.52, 0.7, 0.58, 0.65], inference_ids=[f"req-{i}" for i in range(6)])
    queue.refresh(settings, "ep")
    queue.label_many(settings, "ep", [(f"req-{i}", ["bicycle", "motorcycle"][i % 2]) for i in range(6)], "ana")
    runner = CliRunner()
    added = runner.invoke(app, ["dataset", "add-reviewed", "ep", "--json"])
    assert added.exit_code == 0, added.output
    version = json.loads(added.stdout)
    assert version["uri"] == "s3://scones/data-v2" and sum(version["added"].values()) == 6
    assert version["counts"]["test"] == 16 and version["counts"]["train"] == 64 + version["added"]["train"]
    result = runner.invoke(app, ["retrain", "ep", "--epochs", "1", "--no-deploy", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["dataset"] == version["uri"] and body["candidate"]["model"].endswith("/output/model.tar.gz")
    assert set(body["current"]["evaluation"]) == set(body["candidate"]["evaluation"]) == {"test", "reviewed-test"}
    decision = body["decision"]
    assert decision["status"] == "PendingManualApproval" and decision["deploy"] is False  # --no-deploy, either way
    assert decision["passed_gates"] is ("not deployed (--no-deploy)" in decision["reason"])
    text = runner.invoke(app, ["loop", "iterations"])
    assert text.exit_code == 0 and "No loop iterations yet" in text.stdout
