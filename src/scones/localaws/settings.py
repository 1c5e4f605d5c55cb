"""`scones up` settings: flags > `SCONES_UP_*` environment > defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scones.config import resolve
from scones.errors import ConfigError

ENV_PREFIX = "SCONES_UP_"


@dataclass(frozen=True)
class UpConfig:
    """Where the local AWS listens and who it answers to.

    Attributes:
        host: the address to bind; loopback unless you mean to share it (SCONES_UP_HOST).
        port: the port for every service, LocalStack's 4566 by default; 0 picks a free one (SCONES_UP_PORT).
        access_key, secret_key: when both are set, every request must carry a valid SigV4
            signature made with them; unset, signatures are not checked (SCONES_UP_ACCESS_KEY, ..._SECRET_KEY).
        account_id: the account STS reports and ARNs carry (SCONES_UP_ACCOUNT_ID).
        region: the region reported by S3 and put into ARNs (SCONES_UP_REGION).
        allow_hosts: Host names answered besides loopback, `*.localhost` and `host`, comma-separated
            (SCONES_UP_ALLOW_HOSTS); any other Host gets 403, which stops DNS-rebinding pages.
    """

    host: str = "127.0.0.1"
    port: int = 4566
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    account_id: str = "000000000000"
    region: str = "us-east-1"
    allow_hosts: str = ""

    def __post_init__(self) -> None:
        if (self.access_key is None) != (self.secret_key is None):
            raise ConfigError("Give both --access-key and --secret-key to check signatures, or neither")
        if not re.fullmatch(r"\d{12}", self.account_id):
            raise ConfigError(f"Config 'account_id' is {self.account_id!r}; give 12 digits, e.g. 000000000000")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"Config 'port' is {self.port}; give a port from 0 to 65535")

    @property
    def verifies_signatures(self) -> bool:
        return self.access_key is not None


def load_up_config(**flags: Any) -> UpConfig:
    return resolve(UpConfig, flags, env_prefix=ENV_PREFIX)
