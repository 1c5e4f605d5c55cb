from __future__ import annotations

import pytest

from scones.errors import ConfigError, MonitorError
from scones.monitor.constraints import MonitorConfig, config_from_constraints, constraints_document, load_config


def test_document_round_trips() -> None:
    config = MonitorConfig(alpha=0.05, permutations=200)
    document = constraints_document(
        config, [{"name": "x", "inferred_type": "Fractional", "numerical_statistics": {"min": 0.2}}]
    )
    assert document["features"][0]["num_constraints"] == {"is_non_negative": True}
    assert config_from_constraints(document) == config


def test_bad_documents_and_values() -> None:
    with pytest.raises(MonitorError, match="scones.config"):
        config_from_constraints({"features": []})
    with pytest.raises(MonitorError, match="give a number"):
        config_from_constraints({"scones": {"config": {"alpha": "low"}}})
    with pytest.raises(MonitorError, match="alpha"):
        MonitorConfig(alpha=1.5)


def test_environment_sets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_MONITOR_ALPHA", "0.05")
    monkeypatch.setenv("SCONES_MONITOR_WORKERS", "1")
    config = load_config()
    assert config.alpha == 0.05 and config.workers == 1
    monkeypatch.setenv("SCONES_MONITOR_WORKERS", "two")
    with pytest.raises(ConfigError, match="SCONES_MONITOR_WORKERS"):
        load_config()
