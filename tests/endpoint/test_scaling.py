"""Target tracking: the decision on its own, then a real endpoint that scales out under 8 concurrent
clients and back in when they stop, with no failed request and every change recorded."""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from scones.endpoint import process, registry, table
from scones.endpoint.scaling import Tracker
from scones.endpoint.server import endpoint_config
from scones.errors import ConfigError
from tests.endpoint.traffic import Traffic

NAME = "scale-test"


def test_the_tracker_scales_out_only_after_the_load_held_and_in_only_after_the_cooldown() -> None:
    tracker = Tracker(1, 4, target=600, scale_out_seconds=3, scale_in_seconds=5, since=0.0)
    assert tracker.observe(1, 5000) is None and tracker.observe(2, 5000) is None  # above, not yet for 3 s
    assert tracker.observe(3, 100) is None  # one sample under the target: the load did not hold
    assert [tracker.observe(t, 1500) for t in (4, 5)] == [None, None]
    assert tracker.observe(6, 1500) == 3  # above for 3 s: ceil(1 x 1500 / 600) workers
    tracker.changed(6, 3)
    assert tracker.observe(7, 100_000) is None  # the clock restarts after a change
    assert [tracker.observe(t, 100_000) for t in (8, 9)] == [None, 4]  # at most max_workers
    tracker.changed(9, 4)
    assert [tracker.observe(t, 0) for t in range(10, 14)] == [None] * 4  # below, within the cooldown
    assert tracker.observe(14, 0) == 1  # below for 5 s: back to min_workers
    tracker.changed(14, 1)
    assert [tracker.observe(t, 0) for t in range(15, 30)] == [None] * 15  # never under min_workers


def test_scaling_settings_are_checked(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="--max-workers is 1; give more than --min-workers"):
        endpoint_config(settings, workers=1, max_workers=1, target_invocations_per_worker=60)
    with pytest.raises(ConfigError, match="needs both --max-workers N and --target-invocations-per-worker"):
        endpoint_config(settings, workers=1, max_workers=3)


def live_workers(settings: Settings) -> int:
    with closing(table.connect(settings)) as conn:
        return sum(1 for ack in table.acknowledgements(conn, NAME) if process.alive(ack.pid, server=False))


def events(settings: Settings) -> list[table.ScalingEvent]:
    with closing(table.connect(settings)) as conn:
        return table.scaling_events(conn, NAME)[::-1]


@pytest.mark.slow
def test_an_endpoint_scales_out_under_load_and_in_after_it_with_no_failed_request(
    settings: Settings, model_file: Path
) -> None:
    config = endpoint_config(
        settings, name=NAME, port=0, workers=1, max_workers=3, target_invocations_per_worker=600,
        scale_out_seconds=3, scale_in_seconds=6,
    )  # fmt: skip
    registry.deploy(settings, config, str(model_file), timeout=60)
    try:
        url = registry.describe(settings, NAME).url
        with Traffic(url, clients=8) as traffic:
            deadline = time.monotonic() + 60
            while not events(settings) or live_workers(settings) < events(settings)[-1].to_workers:
                assert time.monotonic() < deadline, "no scale-out within 60 s"
                time.sleep(0.25)
            scaled = time.monotonic()
            traffic.wait_for(100, after=scaled)  # served by the bigger pool
        out = events(settings)
        assert out[0].from_workers == 1 and out[0].to_workers == 3, out
        assert out[0].figures["invocations_per_worker_per_minute"] > 600 and out[0].figures["target"] == 600
        deadline = time.monotonic() + 60
        while events(settings)[-1].to_workers != 1:  # idle: back to one worker after the cooldown
            assert time.monotonic() < deadline, "no scale-in within 60 s"
            time.sleep(0.25)
        with Traffic(url, clients=8, total=200) as after:
            after.join()
        assert traffic.failures == [] and after.failures == [] and len(after.answers) == 200
        assert registry.describe(settings, NAME).config["scaling"]["max_workers"] == 3
        described = json.loads(CliRunner().invoke(app, ["describe-endpoint", NAME]).stdout)
        assert described["workers_now"] == 1 and [(e["from_workers"], e["to_workers"]) for e in
                                                  described["scaling_events"]][-1] == (1, 3)  # fmt: skip
        assert described["scaling_events"][0]["to_workers"] == 1  # newest first: back to one
        listed = CliRunner().invoke(app, ["endpoints"], env={"COLUMNS": "300"}).stdout
        assert "1 (1-3, target 600/min)" in listed
    finally:
        registry.delete(settings, NAME)
