"""The soak of issue 9 as a test (slow: 10 minutes): 32 clients, capture at 100%, zero errors,
every accepted request captured exactly once, resident memory flat. bench/soak.py does the
work; docs/reliability.md has the figures of a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # two demo runs (10 min under load on CI) or a 10-minute soak
def test_soak_32_clients(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Ten minutes (`make test-slow`); CI runs two with the same assertions (--soak-seconds 120)."""
    sys.path.insert(0, str(REPO / "bench"))
    import soak  # bench/soak.py: a script beside the others, not a package

    report = soak.run(request.config.getoption("soak_seconds"), 32, tmp_path)
    assert report["errors"] == 0, report["error_samples"]
    assert report["server_alive_at_end"]
    assert report["captured_equals_accepted"] and report["captured_records"] == report["accepted"] > 0
    growth = report["rss_mib_max_after_warmup"] - report["rss_mib_after_warmup"]
    assert growth < 16, f"server RSS grew {growth:.1f} MiB after warm-up"
