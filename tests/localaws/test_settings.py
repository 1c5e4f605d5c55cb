"""UpConfig: flags > SCONES_UP_* environment > defaults, and bad values fail with their name."""

from __future__ import annotations

import pytest

from scones.errors import ConfigError
from scones.localaws import export_lines, load_up_config


def test_defaults_are_loopback_on_4566() -> None:
    config = load_up_config()
    assert (config.host, config.port, config.account_id, config.verifies_signatures) == (
        "127.0.0.1",
        4566,
        "000000000000",
        False,
    )


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_UP_PORT", "4567")
    monkeypatch.setenv("SCONES_UP_ACCOUNT_ID", "111111111111")
    assert load_up_config().port == 4567
    assert load_up_config(port=4568).port == 4568
    assert load_up_config().account_id == "111111111111"


def test_access_key_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="both --access-key and --secret-key"):
        load_up_config(access_key="AKID")


def test_bad_account_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="account_id"):
        load_up_config(account_id="12")


def test_export_lines_are_what_a_user_exports() -> None:
    lines = export_lines(load_up_config(host="0.0.0.0"), 4566)  # noqa: S104 - no socket is bound here
    assert lines == [
        "export AWS_ENDPOINT_URL=http://127.0.0.1:4566",
        "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test",
        "export AWS_DEFAULT_REGION=us-east-1",
    ]
    assert "s3cret" not in "".join(export_lines(load_up_config(access_key="K", secret_key="s3cret"), 4566))
