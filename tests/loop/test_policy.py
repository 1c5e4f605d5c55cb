"""The loop policy file: triggers, gates, training and strategy, with a clear error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from scones.errors import ConfigError
from scones.loop.policy import load_policy


def test_a_policy_file_sets_every_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[triggers]\nnew_labels = 50\nmonitor_violation = true\nevery = "1d"\n'
        "[gates]\nmargin = 0.05\ntolerance = 0\n"
        "[training]\nepochs = 8\ntest_share = 0.25\n"
        '[strategy]\nkind = "linear"\nlinear_step = 20\ninterval_seconds = 5\nbake_seconds = 7\n'
    )
    policy = load_policy(path)
    assert (policy.new_labels, policy.monitor_violation, policy.every_seconds) == (50, True, 86400.0)
    assert (policy.gates.margin, policy.gates.tolerance, policy.epochs, policy.test_share) == (0.05, 0.0, 8, 0.25)
    assert policy.strategy.kind == "linear" and policy.strategy.shares() == [20, 40, 60, 80]
    assert (policy.strategy.interval_seconds, policy.strategy.bake_seconds) == (5.0, 7.0)
    assert policy.has_triggers and policy.source == str(path)


def test_no_policy_means_the_defaults_and_no_trigger() -> None:
    policy = load_policy(None)
    assert not policy.has_triggers and policy.strategy.kind == "canary" and policy.gates.margin == 0.02


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("[trigger]\nnew_labels = 5\n", "unknown section [trigger]"),
        ("[triggers]\nnew_label = 5\n", "unknown key 'new_label' in [triggers]"),
        ("[triggers]\nnew_labels = 0\n", "new_labels is 0; give 1 or more"),
        ('[triggers]\nnew_labels = "5"\n', "new_labels is '5'; give a int"),
        ("[triggers]\nmonitor_violation = 1\n", "monitor_violation is 1; give a bool"),
        ('[triggers]\nevery = "often"\n', "Interval 'often' is not a duration"),
        ("[gates]\nmargin = 3\n", "must be accuracy differences in [0, 1]"),
        ('[gates]\ntolerance = "small"\n', "tolerance is 'small'; give a number"),
        ('[strategy]\nkind = "yolo"\n', "Strategy 'yolo' is not one of"),
        ("[strategy]\ncanary_percent = 100\n", "--canary-percent is 100.0"),
        ("gates = 1\n", "unknown section [gates]"),
        ("[gates\n", "is not valid TOML"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_file_and_the_mistake(tmp_path: Path, text: str, phrase: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="policy.toml") as caught:
        load_policy(path)
    assert phrase in str(caught.value)


def test_a_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No loop policy at"):
        load_policy(tmp_path / "nope.toml")
