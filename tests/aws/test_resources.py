from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from scones.aws import resources


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateFunction")


def test_new_roles_are_retried_until_assumable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "_PROPAGATION_DELAYS", (0, 0))
    calls: list[int] = []

    def create() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _error("InvalidParameterValueException", "The role defined for the function cannot be assumed")
        return "created"

    assert resources._after_role_propagates(create) == "created"
    assert len(calls) == 3


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "_PROPAGATION_DELAYS", (0, 0))
    calls: list[Any] = []

    def create() -> None:
        calls.append(1)
        raise _error("ValidationException", "Model name is too long")

    with pytest.raises(ClientError):
        resources._after_role_propagates(create)
    assert len(calls) == 1
