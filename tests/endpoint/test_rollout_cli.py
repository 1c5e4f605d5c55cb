"""The rollout commands through the real CLI, against a real endpoint process with a shadow."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import registry
from tests.endpoint.test_deployments import model
from tests.endpoint.traffic import Traffic

NAME = "cli-rollout"


def test_shadow_report_deployment_and_rollback_commands(settings: Settings, tmp_path: Path, model_file: Path) -> None:
    runner = CliRunner()

    def scones(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--home", str(settings.home), *args])
        return result.exit_code, result.stdout, result.stderr

    unsure = model(tmp_path / "unsure.tar.gz", 0.1)
    code, out, _ = scones(
        "deploy", "--name", NAME, "--model", str(model_file), "--shadow", f"Unsure={unsure}", "--capture-percent", "100"
    )
    try:
        assert code == 0 and "Unsure: shadow of 100% of requests" in out
        url = registry.describe(settings, NAME).url
        with Traffic(url, clients=8) as traffic:
            traffic.wait_for(30)
            code, out, err = scones(
                "update-endpoint", NAME, "--model", unsure, "--strategy", "canary", "--canary-percent", "50",
                "--interval-seconds", "4", "--bake-seconds", "1", "--min-requests", "10",
            )  # fmt: skip
        assert traffic.failures == []
        assert code == 3 and "RolledBack" in out and "Canary" in err
        code, out, _ = scones("deployments", NAME, "--json")
        listed = json.loads(out)
        assert (
            code == 0 and listed[0]["status"] == "RolledBack" and listed[0]["phases"][-1]["trigger"] == "low_confidence"
        )
        variants = registry.describe(settings, NAME).config["variants"]
        assert [(v["name"], v["shadow"]) for v in variants] == [("AllTraffic", False), ("Unsure", True)]  # shadow kept
        deadline = time.monotonic() + 30  # capture files roll every 5 s
        report: dict[str, object] = {}
        while time.monotonic() < deadline and not report.get("pairs"):
            time.sleep(1)
            code, out, _ = scones("endpoint", "shadow-report", NAME, "--json")
            report = json.loads(out)
        assert report["shadow"] == "Unsure" and report["agreement_rate"] == 1.0  # same class, less sure
        sides = report["sides"]
        assert (
            isinstance(sides, list)
            and sides[1]["low_confidence_rate"] == 1.0
            and sides[0]["low_confidence_rate"] == 0.0
        )
        code, _, err = scones("update-endpoint", NAME, "--rollback")
        assert code == 1 and "No deployment is in progress" in err
        code, _, err = scones("update-endpoint", NAME)
        assert code == 1 and "Give --model" in err
        code, _, err = scones("update-endpoint", NAME, "--model", unsure, "--strategy", "blue")
        assert code == 1 and "not one of all-at-once, canary, linear" in err
    finally:
        registry.delete(settings, NAME)
