"""The review loop's scenario (issue #18) on the dev data: night traffic -> monitor + review queue -> labels ->
retrain -> canary under load -> fewer low-confidence answers. bench/review_loop.py runs it with larger figures."""

from __future__ import annotations

import pytest

from scones.config import Settings
from tests.loop.scenario import DEV_ARCHIVE, run

pytestmark = pytest.mark.slow


def test_reviewed_night_images_become_a_better_model_in_production(settings: Settings) -> None:
    if not DEV_ARCHIVE.is_file():
        pytest.skip(f"development archive not present at {DEV_ARCHIVE}")
    figures = run(settings, base_epochs=16, retrain_epochs=24, traffic=400, step_seconds=5.0, log=lambda _: None)
    # (3) the monitor reports the shift and the review queue fills with the night answers
    assert figures["monitor"]["status"] == "CompletedWithViolations" and figures["monitor"]["violations"]
    assert figures["queue"]["labelled"] >= 200
    # (5) better on night images held out from review, no worse on the original test split
    retrain, before, after = figures["retrain"], figures["held_out_night_before"], figures["held_out_night_after"]
    assert retrain["warm_start"] and retrain["decision"]["passed_gates"]
    comparison = retrain["comparison"]
    assert comparison["reviewed-test"]["candidate"] >= comparison["reviewed-test"]["current"] + 0.15
    assert comparison["test"]["candidate"] >= comparison["test"]["current"] - 0.03  # the scenario's tolerance
    assert after["accuracy"] >= before["accuracy"] + 0.15
    # (6) rolled out by canary, with no failed request from the clients sending meanwhile
    assert retrain["decision"]["rollout"] == "Completed" and retrain["decision"]["status"] == "Approved"
    assert figures["rollout_traffic"]["requests"] > 50 and figures["failures"] == []
    # (7) night traffic now gets markedly fewer answers below 0.93
    assert after["low_confidence"] <= before["low_confidence"] - 0.2
